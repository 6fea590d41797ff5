"""`namegen run` (the pipeline end-to-end, then a summary) and `namegen report`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time

from components.example_gen.names_file import IngestError
from data import encoding, progress, resolve
from data.resolve import SPAN
from namegen import arguments
from namegen.commands import names
from namegen.errors import UserError
from pipeline import configs, run_lock, storage
from serving import contract, model_dir

# TFX, Transform, TensorFlow, matplotlib (the report) and ML Metadata are imported inside the
# functions that need them: every command's parser imports this module.


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--data", help="names file, one per line, or a span pattern such as "
                     "names/{SPAN}/*.txt (default: the dinosaur list)")
    run.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT),
                     help="artifacts, the ML Metadata store and the report go here")
    run.add_argument("--serving-dir", default=str(configs.DEFAULT_SERVING_DIR),
                     help="the Pusher writes <serving-dir>/names/<version>/ here")
    run.add_argument("--runner", choices=["local", "beam"], default="local",
                     help="TFX orchestrator: local (in process) or beam (Beam DAG runner)")
    run.add_argument("--beam-arg", action="append", help="a Beam pipeline argument (repeatable)")
    run.add_argument("--tune", action="store_true",
                     help="search hyperparameters first (TFX-recorded trials) and train the best")
    run.add_argument("--tune-budget", type=arguments.at_least(1), default=900,
                     metavar="SECONDS", help="with --tune: seconds of search")
    run.add_argument("--gate", action="append", metavar="KEY=VALUE",
                     help=f"an evaluation gate threshold (repeatable): {', '.join(configs.GATE)}")
    run.add_argument("--wait", action="store_true",
                     help="if another run uses the pipeline root, wait for it (default: refuse)")
    add_training_args(run)
    run.set_defaults(validate=validate_run)


def validate_run(args: argparse.Namespace) -> None:
    """--data, --set, --epochs and --gate, checked before TFX is imported."""
    if args.data:
        spans = SPAN in args.data
        folder = args.data.split(SPAN)[0] or "." if spans else args.data
        if not (os.path.isdir(folder) if spans else os.path.isfile(folder)):
            raise UserError(f"--data {args.data}: no such {'folder' if spans else 'file'} "
                            f"{folder}; give a names file (one name per line) or a span pattern "
                            "such as names/{SPAN}/*.txt")
    hyperparameters_from(args)
    gate_from(args)


def add_report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT),
                        help="the pipeline root of the run")
    report.set_defaults(validate=arguments.paths_must_exist(
        "--pipeline-root", fix="; run `namegen run` first or pass the run's --pipeline-root"))
    report.add_argument("--out", help="output folder (default: <pipeline-root>/report)")
    report.add_argument("--run", help="a pipeline run id (default: the latest)")


def add_training_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=configs.DEFAULT_PRESET, choices=sorted(configs.PRESETS),
                        help="hyperparameter preset (pipeline/configs.py)")
    parser.add_argument("--epochs", type=arguments.at_least(1),
                        help="training epochs (default: the preset's)")
    parser.add_argument("--seed", type=int, default=configs.DEFAULT_SEED,
                        help="seed of the split, the initial weights and the sampling")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a hyperparameter (repeatable)")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set/--gate expects key=value, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def hyperparameters_from(args: argparse.Namespace) -> dict:
    overrides = parse_overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    try:
        return configs.hyperparameters(args.preset, overrides, seed=args.seed)
    except ValueError as error:
        raise UserError(f"--set: {error}") from None


class _ComponentProgress(logging.Handler):
    """Shows which TFX component runs, from the orchestrator's own log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started: dict[str, float] = {}
        self.beats: dict[str, contextlib.ExitStack] = {}  # a heartbeat per running component

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Component ") and message.endswith(" is running."):
            name = message.split()[1]
            self.started[name] = time.perf_counter()
            print(f"▶ {name} ...", file=sys.stderr, flush=True)
            self.beats[name] = contextlib.ExitStack()
            self.beats[name].enter_context(progress.heartbeat(f"  {name}"))
        elif message.startswith("Component ") and message.endswith(" is finished."):
            name = message.split()[1]
            if name in self.beats:
                self.beats.pop(name).close()
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


def cmd_run(args: argparse.Namespace) -> int:
    hp = hyperparameters_from(args)  # a bad --set fails before TFX is imported

    from components.example_gen import spans  # TFX: only `run` pays for it
    from pipeline import local_runner

    try:
        # a span pattern (names/{SPAN}/*.txt): ExampleGen picks the latest span
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
            raise UserError(f"--gate: unknown gate setting {key!r}; use one of {sorted(gate)}")
        try:
            gate[key] = type(gate[key])(value)
        except ValueError:
            raise UserError(f"--gate {key}={value!r}: expected "
                            f"{type(gate[key]).__name__}") from None
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
        f"{encoding.MAX_NAME_LENGTH} characters",
    ]
    if graph is not None:
        output = tft.TFTransformOutput(graph.uri)
        vocabulary = output.vocabulary_by_name(encoding.VOCAB_NAME)
        name_chars = len(vocabulary) - len(encoding.RESERVED_TOKENS)
        lines.append(
            f"  vocabulary      {name_chars} name characters + "
            f"{', '.join(encoding.RESERVED_TOKENS)}"
            f" + {encoding.NUM_OOV_BUCKETS} OOV = {len(vocabulary) + encoding.NUM_OOV_BUCKETS} ids"
        )
        transformed = metadata.latest_artifact(store, "Examples", producer="Transform")
        lines.append(f"  longest name    {longest_name(transformed.uri)} characters "
                     f"(cap {encoding.MAX_NAME_LENGTH})")
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
        lines.append(f"Ten names from the pushed model, default sampler (temperature "
                     f"{contract.SAMPLER['temperature']}):")
        for row in names.generate_local(version_dir, 10, **contract.SAMPLER):
            lines.append(f"  {row['name']}")
    return "\n".join(lines)


def longest_name(transformed_examples_uri: str) -> int:
    """The tft.max of name lengths that Transform recorded in every transformed example."""
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(transformed_examples_uri, "Split-train", "*"))
    for record in tf.data.TFRecordDataset(sorted(files)[:1], compression_type="GZIP").take(1):
        example = tf.train.Example.FromString(record.numpy())
        return int(example.features.feature[encoding.LONGEST_FEATURE].int64_list.value[0])
    return 0
