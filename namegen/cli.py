"""`namegen`: run the pipeline, generate and score names, and the other tools."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
os.environ.setdefault("PYTHONWARNINGS", "ignore")  # Beam's worker processes inherit it
warnings.filterwarnings("ignore")

from namegen import rollback  # noqa: E402
from namegen.bench import perf, quality, soak  # noqa: E402
from pipeline import configs, run_lock, storage  # noqa: E402  (after the env)
from pipeline.kubeflow import compile as kubeflow_compile  # noqa: E402
from serving import commands as serving_commands  # noqa: E402


def quiet_tfx_import() -> None:
    """Import TFX once with TFMA's harmless 'Error importing: addons' stderr line muted."""
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        import tensorflow_model_analysis  # noqa: F401
        import tfx.v1  # noqa: F401


class UserError(Exception):
    """An error whose message is the whole story; printed without a traceback."""


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def hyperparameters_from(args: argparse.Namespace) -> dict:
    overrides = parse_overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    try:
        return configs.hyperparameters(args.preset, overrides, seed=args.seed)
    except ValueError as error:
        raise UserError(str(error)) from None


class _ComponentProgress(logging.Handler):
    """Shows which TFX component runs, from the orchestrator's own log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Component ") and message.endswith(" is running."):
            name = message.split()[1]
            self.started[name] = time.perf_counter()
            print(f"▶ {name} ...", file=sys.stderr, flush=True)
        elif message.startswith("Component ") and message.endswith(" is finished."):
            name = message.split()[1]
            seconds = time.perf_counter() - self.started.get(name, time.perf_counter())
            print(f"✓ {name} ({seconds:.1f}s)", file=sys.stderr, flush=True)
        elif record.levelno >= logging.ERROR:
            print(f"! {message.splitlines()[0][:300]}", file=sys.stderr, flush=True)


def _show_progress() -> None:
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    logger = logging.getLogger("absl")
    logger.propagate = False
    logger.handlers = [_ComponentProgress()]


# --- run ------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from components.example_gen import spans
    from data import resolve
    from pipeline import local_runner

    hp = hyperparameters_from(args)
    try:  # a span pattern (names/{SPAN}/*.txt): ExampleGen picks the latest span
        data_path = (os.path.abspath(args.data) if args.data and spans.has_span(args.data)
                     else resolve.resolve(args.data))
    except resolve.DataError as error:
        raise UserError(str(error)) from None
    pipeline_root = os.path.abspath(args.pipeline_root)
    serving_dir = os.path.abspath(args.serving_dir)
    print(f"namegen: {data_path} -> {pipeline_root} (runner {args.runner}, preset {hp['preset']})",
          file=sys.stderr)
    _show_progress()
    started = time.perf_counter()
    places = [("pipeline root", pipeline_root), ("serving dir", serving_dir)]
    try:
        for label, path in places:
            storage.check_writable(label, path)
        with run_lock.run_lock(pipeline_root, wait=args.wait, announce=_announce):
            for execution, node in run_lock.cancel_orphaned_executions(pipeline_root):
                _announce(f"execution {execution} ({node}) was left RUNNING by a run that "
                          "died; marked CANCELED")
            local_runner.run(str(data_path), pipeline_root, serving_dir, hp,
                             runner=args.runner, beam_pipeline_args=args.beam_arg or None,
                             gate=gate_from(args),
                             tune_budget_seconds=args.tune_budget if args.tune else 0)
    except (run_lock.RunLocked, storage.StorageError) as error:
        raise UserError(str(error)) from None
    except Exception as error:
        from components.example_gen.executor import IngestError
        from components.validation.component import DataValidationError

        if isinstance(error, DataValidationError):
            print(f"report: {_write_report(pipeline_root)}", file=sys.stderr)
        if isinstance(error, (IngestError, DataValidationError)):
            raise UserError(str(error)) from None
        problem = storage.storage_problem(error, places)
        if problem:
            raise UserError(problem) from None
        raise
    print(run_summary(pipeline_root, serving_dir, time.perf_counter() - started))
    print(f"  report          {_write_report(pipeline_root)}")
    return 0


def _announce(text: str) -> None:
    print(f"namegen: {text}", file=sys.stderr, flush=True)


def gate_from(args: argparse.Namespace) -> dict:
    gate = dict(configs.GATE)
    for key, value in parse_overrides(args.gate).items():
        if key not in gate:
            raise UserError(f"unknown gate setting {key!r}; known: {sorted(gate)}")
        gate[key] = type(gate[key])(value)
    return gate


def _write_report(pipeline_root: str) -> str:
    from namegen import report

    return str(report.write_report(pipeline_root))


def cmd_report(args: argparse.Namespace) -> int:
    from namegen import report

    print(report.write_report(os.path.abspath(args.pipeline_root), args.out, args.run))
    return 0


def run_summary(pipeline_root: str, serving_dir: str, seconds: float) -> str:
    """One screen: what was ingested, the vocabulary, the model and where everything is."""
    import tensorflow_transform as tft

    from pipeline import metadata
    from serving import model_dir

    store = metadata.open_store(pipeline_root)
    examples = metadata.latest_artifact(store, "Examples", producer="FileBasedExampleGen")
    graph = metadata.latest_artifact(store, "TransformGraph")
    pushed = metadata.latest_artifact(store, "PushedModel")

    def count(key: str) -> int:
        return int(metadata.custom(examples, f"num_{key}", 0))

    lines = [
        "",
        f"namegen run finished in {seconds:.0f}s",
        f"  names ingested  {count('kept'):,} of {count('lines'):,} lines "
        f"({count('distinct'):,} distinct; duplicates kept)",
        f"  dropped         {count('blank')} blank, {count('too_long')} longer than "
        f"{configs.MAX_NAME_LENGTH} characters",
    ]
    if graph is not None:
        output = tft.TFTransformOutput(graph.uri)
        vocabulary = output.vocabulary_by_name(configs.VOCAB_NAME)
        name_chars = len(vocabulary) - len(configs.RESERVED_TOKENS)
        lines.append(
            f"  vocabulary      {name_chars} name characters + {', '.join(configs.RESERVED_TOKENS)}"
            f" + {configs.NUM_OOV_BUCKETS} OOV = {len(vocabulary) + configs.NUM_OOV_BUCKETS} ids"
        )
        transformed = metadata.latest_artifact(store, "Examples", producer="Transform")
        lines.append(f"  longest name    {longest_name(transformed.uri)} characters "
                     f"(cap {configs.MAX_NAME_LENGTH})")
    lines.append(f"  artifacts       {pipeline_root}")
    lines.append(f"  metadata        {configs.metadata_path(pipeline_root)}")
    blessing = metadata.latest_artifact(store, "ModelBlessing")
    version_dir = None
    if pushed is not None and metadata.custom(pushed, "pushed", 0):
        version_dir = metadata.custom(pushed, "pushed_destination")
        version = metadata.custom(pushed, "pushed_version")
        lines.append(f"  pushed version {version} -> {version_dir}")
        lines.append(f"  gate            {metadata.custom(blessing, 'reason', '')}")
    elif blessing is not None:
        lines.append(f"  not pushed: {metadata.custom(blessing, 'reason', 'not blessed')}")
    if version_dir:
        info = model_dir.read_metadata(version_dir)
        m = info["metrics"]
        lines.append(
            f"  model           preset {info['hyperparameters']['preset']}, "
            f"{m['parameters']:,} parameters, {m['epochs_trained']} epochs, "
            f"eval {m['eval_nats_per_char']:.3f} nats/char"
        )
        lines.append("")
        lines.append("Ten names from the pushed model (temperature 0.8):")
        for row in generate_local(version_dir, 10, temperature=0.8):
            lines.append(f"  {row['name']}")
    return "\n".join(lines)


def longest_name(transformed_examples_uri: str) -> int:
    """The tft.max of name lengths that Transform recorded in every transformed example."""
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(transformed_examples_uri, "Split-train", "*"))
    for record in tf.data.TFRecordDataset(sorted(files)[:1], compression_type="GZIP").take(1):
        example = tf.train.Example.FromString(record.numpy())
        return int(example.features.feature[configs.LONGEST_FEATURE].int64_list.value[0])
    return 0


# --- generate and score ---------------------------------------------------------------------
def generate_local(model: str, n: int, seed: int = 0, **controls) -> list[dict]:
    """n names from a local SavedModel; controls are serving_default inputs (prefix, ...)."""
    import tensorflow as tf

    from serving import contract, model_dir

    loaded = tf.saved_model.load(str(model_dir.resolve(model)))
    outputs = loaded.signatures[contract.GENERATE_SIGNATURE](
        **contract.generation_request(n, seeds=list(range(seed, seed + n)), **controls)
    )
    return [
        {"name": name.decode("utf-8"), "log_prob": float(lp), "length": int(length)}
        for name, lp, length in zip(outputs["name"].numpy(), outputs["log_prob"].numpy(),
                                    outputs["length"].numpy())
    ]


def score_local(model: str, names: list[str], batch_size: int = 512) -> dict:
    import tensorflow as tf

    from serving import contract, model_dir

    score = tf.saved_model.load(str(model_dir.resolve(model))).signatures[contract.SCORE_SIGNATURE]
    return contract.summarize_scores(
        score(**{contract.SCORE_INPUT: tf.constant(names[start:start + batch_size])})
        for start in range(0, len(names), batch_size))


def read_names(path: str) -> list[str]:
    """Names from a text file, cleaned exactly as ExampleGen cleans them."""
    from components.example_gen.executor import KEPT, classify, clean_line

    names = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                name = clean_line(raw)
            except UnicodeDecodeError:
                raise UserError(f"{path}, line {number}: not valid UTF-8") from None
            if classify(name) == KEPT:
                names.append(name)
    return names


def split_names(pipeline_root: str, split: str) -> list[str]:
    """The names ExampleGen put in a split of the latest run."""
    from components.example_gen.executor import read_split
    from pipeline import metadata

    examples = metadata.latest_artifact(metadata.open_store(pipeline_root), "Examples",
                                        producer="FileBasedExampleGen")
    if examples is None:
        raise UserError(f"no ExampleGen output in {pipeline_root}: run `namegen run` first")
    names = read_split(examples.uri, split)
    if not names:
        raise UserError(f"no names in split {split!r} of {examples.uri}")
    return names


def cmd_generate(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError("-n must be at least 1")
    controls = dict(prefix=args.prefix, temperature=args.temperature, max_length=args.max_length,
                    top_k=args.top_k, top_p=args.top_p, min_length=args.min_length,
                    no_copy=args.no_copy)
    if args.server:
        from serving import client

        rows = client.Client(args.server, timeout=args.timeout).generate(
            n=args.n, seed=args.seed, **controls
        )
    else:
        rows = generate_local(args.model, args.n, args.seed, **controls)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        for row in rows:
            print(row["name"])
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    if args.file:
        names = read_names(args.file)
    else:
        names = split_names(args.pipeline_root, args.split)
    if not names:
        raise UserError("no names to score")
    if args.server:
        from serving import client

        result = client.Client(args.server, timeout=args.timeout).score(names)
    else:
        result = score_local(args.model, names)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['nats_per_char']:.4f} nats/char  ({result['bits_per_char']:.4f} bits/char) "
              f"over {result['names']:,} names, {result['predictions']:,} predictions")
    return 0


# --- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="namegen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline end-to-end, then print ten names")
    run.add_argument("--data", help="names file, one per line, or a span pattern such as "
                     "names/{SPAN}/*.txt (default: the dinosaur list)")
    run.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT))
    run.add_argument("--serving-dir", default=str(configs.DEFAULT_SERVING_DIR))
    run.add_argument("--runner", choices=["local", "beam"], default="local")
    run.add_argument("--beam-arg", action="append", help="a Beam pipeline argument (repeatable)")
    run.add_argument("--tune", action="store_true",
                     help="search hyperparameters first (TFX-recorded trials) and train the best")
    run.add_argument("--tune-budget", type=int, default=900, metavar="SECONDS")
    run.add_argument("--gate", action="append", metavar="KEY=VALUE",
                     help=f"an evaluation gate threshold (repeatable): {', '.join(configs.GATE)}")
    run.add_argument("--wait", action="store_true",
                     help="if another run uses the pipeline root, wait for it (default: refuse)")
    add_training_args(run)
    run.set_defaults(func=cmd_run)

    report = commands.add_parser("report", help="write the HTML report of a pipeline run")
    report.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT))
    report.add_argument("--out", help="output folder (default: <pipeline-root>/report)")
    report.add_argument("--run", help="a pipeline run id (default: the latest)")
    report.set_defaults(func=cmd_report)

    generate = commands.add_parser("generate", help="generate names from a pushed model")
    add_model_args(generate)
    generate.add_argument("--prefix", default="")
    generate.add_argument("-n", type=int, default=10)
    generate.add_argument("--temperature", type=float, default=0.8)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--max-length", type=int, default=configs.MAX_NAME_LENGTH)
    generate.add_argument("--top-k", type=int, default=0, help="0 = off")
    generate.add_argument("--top-p", type=float, default=1.0, help="1.0 = off")
    generate.add_argument("--min-length", type=int, default=0)
    generate.add_argument("--no-copy", action="store_true",
                          help="resample names that exactly match a training name")
    generate.add_argument("--json", action="store_true", help="names with log-probabilities")
    generate.set_defaults(func=cmd_generate)

    score = commands.add_parser("score", help="mean nats per character of names under a model")
    add_model_args(score)
    score.add_argument("file", nargs="?", help="names file (default: a split of the last run)")
    score.add_argument("--split", default="eval", help="split of the last run when no file")
    score.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT))
    score.add_argument("--json", action="store_true")
    score.set_defaults(func=cmd_score)
    serving_commands.register(commands)
    bench = commands.add_parser(
        "bench", help="benchmarks: training and generation speed (default), serve, quality")
    perf.add_arguments(bench)
    bench.set_defaults(func=perf.run)
    benches = bench.add_subparsers(dest="bench")
    serving_commands.register_bench(benches)
    quality.register(benches)
    soak.register(benches)
    kubeflow_compile.register(commands)
    rollback.register(commands)
    return parser


def add_training_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=configs.DEFAULT_PRESET, choices=sorted(configs.PRESETS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int, default=configs.DEFAULT_SEED)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a hyperparameter (repeatable)")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(configs.DEFAULT_SERVING_DIR),
                        help="a version folder, a model folder or a serving dir (newest version)")
    parser.add_argument("--server", help="query a TF Serving endpoint instead, e.g. "
                        "http://localhost:8501 or grpc://localhost:8500")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds, with --server")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("run", "report", "kubeflow") or getattr(args, "split", None):
            quiet_tfx_import()
        return args.func(args)
    except KeyboardInterrupt:
        print("namegen: interrupted; re-run to resume", file=sys.stderr)
        return 130
    except (UserError, FileNotFoundError) as error:
        print(f"namegen: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the one-line explanation first, the traceback on request
        print(f"namegen: error: {type(error).__name__}: {error}", file=sys.stderr)
        if args.verbose:
            raise
        print("(run with -v for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
