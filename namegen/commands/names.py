"""`namegen generate` and `namegen score`: names from a pushed model, locally or from a server.

They load TensorFlow and the SavedModel only, never TFX, Beam or Transform, and check their flags
against the model's own metadata (assets.extra) before TensorFlow starts.
"""

from __future__ import annotations

import argparse
import json
import math

from components.example_gen.names_file import KEPT, classify, clean_line, read_split
from data import encoding
from namegen import arguments
from namegen.errors import UserError
from pipeline import configs
from serving import contract, model_dir

# TensorFlow, ML Metadata and the serving client are imported inside the functions that use
# them: flags are checked first, and a failed check never waits for TensorFlow.


def add_generate_arguments(generate: argparse.ArgumentParser) -> None:
    add_model_args(generate)
    generate.add_argument("--prefix", default="", help="every name starts with this")
    generate.add_argument("-n", type=int, default=10, help="how many names")
    sampler = contract.SAMPLER  # the one default sampler (also the playground's)
    generate.add_argument("--temperature", type=float, default=sampler["temperature"],
                          help="sampling temperature (0: greedy)")
    generate.add_argument("--seed", type=int, default=0, help="sampling seed")
    generate.add_argument("--max-length", type=int, default=encoding.MAX_NAME_LENGTH,
                          help="longest name, in characters")
    generate.add_argument("--top-k", type=int, default=sampler["top_k"], help="0 = off")
    generate.add_argument("--top-p", type=float, default=sampler["top_p"], help="1.0 = off")
    generate.add_argument("--eta", type=float, default=sampler["eta"],
                          help="eta sampling: drop letters under min(eta, sqrt(eta) e^-entropy);"
                               " 0 = off")
    generate.add_argument("--min-length", type=int, default=sampler["min_length"],
                          help="shortest name, in characters (0: no minimum)")
    generate.add_argument("--length-calibration", action=argparse.BooleanOptionalAction,
                          default=sampler["length_calibration"],
                          help="stop names as often as training names stop at each length "
                               "(--no-length-calibration: the raw model)")
    generate.add_argument("--no-copy", action=argparse.BooleanOptionalAction,
                          default=sampler["no_copy"],
                          help="resample names that exactly match a training name "
                               "(--no-no-copy or --allow-copies: keep them)")
    generate.add_argument("--allow-copies", dest="no_copy", action="store_false",
                          help="keep names that exactly match a training name")
    generate.add_argument("--unique", action=argparse.BooleanOptionalAction,
                          default=sampler["unique"],
                          help="n different names (--no-unique: a name may repeat)")
    generate.add_argument("--json", action="store_true", help="names with log-probabilities")


def add_score_arguments(score: argparse.ArgumentParser) -> None:
    add_model_args(score)
    score.add_argument("file", nargs="?", help="names file (default: a split of the last run)")
    score.set_defaults(validate=arguments.paths_must_exist(
        "file", fix="; give a names file, one name per line"))
    score.add_argument("--split", default="eval", help="split of the last run when no file")
    score.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT),
                       help="the run whose split is scored when no file is given")
    score.add_argument("--json", action="store_true", help="print the scores as JSON")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(configs.DEFAULT_SERVING_DIR),
                        help="a version folder, a model folder or a serving dir (newest version)")
    parser.add_argument("--server", help="query a TF Serving endpoint instead, e.g. "
                        "http://localhost:8501 or grpc://localhost:8500")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds, with --server")


# --- checks before TensorFlow starts --------------------------------------------------------
def check_generation_flags(args: argparse.Namespace) -> None:
    """The rules the exported graph enforces, checked on the flags (UserError naming the flag)."""
    if args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise UserError(f"--temperature must be finite and >= 0 (0 = greedy), "
                        f"got {args.temperature:g}")
    for flag, value in (("--max-length", args.max_length), ("--top-k", args.top_k),
                        ("--min-length", args.min_length)):
        if value < 0:
            raise UserError(f"{flag} must be >= 0, got {value}")
    if not 0.0 < args.top_p <= 1.0:
        raise UserError(f"--top-p must be in (0, 1] (1 = off), got {args.top_p:g}")
    if not 0.0 <= args.eta < 1.0:
        raise UserError(f"--eta must be in [0, 1) (0 = off), got {args.eta:g}")
    limit = min(args.max_length, encoding.MAX_NAME_LENGTH)
    if len(args.prefix) > limit:
        raise UserError(f"--prefix has {len(args.prefix)} characters; the limit is {limit} "
                        "(--max-length, and names are at most "
                        f"{encoding.MAX_NAME_LENGTH} characters)")


def check_prefix_characters(prefix: str, vocabulary: list[str]) -> None:
    """A prefix may only use characters the model saw in training."""
    known = set(vocabulary) - set(encoding.RESERVED_TOKENS)
    unknown = sorted(set(prefix) - known)
    if unknown:
        raise UserError(f"--prefix has characters the model has never seen: "
                        f"{', '.join(repr(c) for c in unknown)} (it knows {len(known)}: "
                        f"{''.join(sorted(known))})")


def model_version(model: str):
    """The version folder a --model path names, and its metadata (read without TensorFlow)."""
    version_dir = model_dir.resolve(model)
    try:
        return version_dir, model_dir.read_metadata(version_dir)
    except (OSError, ValueError) as error:
        raise UserError(f"{version_dir} has no readable {model_dir.METADATA_FILE}: {error}; "
                        "is it a namegen export?") from None


# --- local model ----------------------------------------------------------------------------
def generate_local(model: str, n: int, seed: int = 0, **controls) -> list[dict]:
    """n names from a local SavedModel; controls are generation inputs (prefix, eta, ...).

    A model exported before the `sample` signature gets serving_default's controls only.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir.resolve(model)))
    signature = contract.generation_signature(**controls)
    if signature not in loaded.signatures:
        signature = contract.GENERATE_SIGNATURE
        controls = {k: v for k, v in controls.items() if k in contract.GENERATION_INPUTS}
    outputs = loaded.signatures[signature](
        **contract.generation_request(n, seeds=list(range(seed, seed + n)), signature=signature,
                                      **controls)
    )
    return [
        {"name": name.decode("utf-8"), "log_prob": float(lp), "length": int(length)}
        for name, lp, length in zip(outputs["name"].numpy(), outputs["log_prob"].numpy(),
                                    outputs["length"].numpy())
    ]


def score_local(model: str, names: list[str], batch_size: int = 512) -> dict:
    import tensorflow as tf

    score = tf.saved_model.load(str(model_dir.resolve(model))).signatures[contract.SCORE_SIGNATURE]
    return contract.summarize_scores(
        score(**{contract.SCORE_INPUT: tf.constant(names[start:start + batch_size])})
        for start in range(0, len(names), batch_size))


# --- names to score -------------------------------------------------------------------------
def read_names(path: str) -> list[str]:
    """Names from a text file, cleaned exactly as ExampleGen cleans them."""
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
    from pipeline import metadata

    examples = metadata.latest_artifact(metadata.open_store(pipeline_root), "Examples",
                                        producer="FileBasedExampleGen")
    if examples is None:
        raise UserError(f"no ExampleGen output in {pipeline_root}: run `namegen run` first")
    names = read_split(examples.uri, split)
    if not names:
        raise UserError(f"no names in split {split!r} of {examples.uri}")
    return names


# --- commands -------------------------------------------------------------------------------
def cmd_generate(args: argparse.Namespace) -> int:
    check_generation_flags(args)
    controls = dict(prefix=args.prefix, temperature=args.temperature, max_length=args.max_length,
                    top_k=args.top_k, top_p=args.top_p, min_length=args.min_length,
                    no_copy=args.no_copy, eta=args.eta,
                    length_calibration=args.length_calibration, unique=args.unique)
    if args.server:
        from serving import client

        rows = client.Client(args.server, timeout=args.timeout).generate(
            n=args.n, seed=args.seed, **controls
        )
    else:
        version_dir, metadata = model_version(args.model)
        check_prefix_characters(args.prefix, metadata["vocabulary"])
        rows = generate_local(str(version_dir), args.n, args.seed, **controls)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        for row in rows:
            print(row["name"])
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    if not args.server:
        model_version(args.model)  # a missing or foreign model fails before TensorFlow starts
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
