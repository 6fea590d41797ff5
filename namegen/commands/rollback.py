"""`namegen rollback [--to N]`: serve an earlier version again, as a new highest version.

TF Serving serves the highest version number, so the rollback copies version N's files into the
next number with the Pusher's atomic write, and records it in that version's
`assets.extra/namegen.json`. The gate's next baseline (the newest version) follows it.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from data import encoding
from namegen import arguments
from namegen.errors import UserError
from pipeline import configs
from serving import model_dir


class RollbackError(RuntimeError):
    """Nothing to roll back to, or the version asked for does not exist."""


def rollback(model_base: str, to: int | None = None, keep: int = configs.KEEP_VERSIONS,
             config_files: tuple[str, ...] = ()) -> tuple[int, int, int]:
    """Copy version `to` (default: the one before the served one) to a new highest version.

    Retention afterwards keeps every version in use, as a push does (labels and `specific`
    policies in the serving folder's models.config files and in `config_files`).

    Returns (new version, the version copied, the version that was served).
    """
    from components.pusher import versions  # TensorFlow's gfile: only `rollback` pays for it

    with versions.push_lock(model_base):
        found = versions.complete_versions(model_base)
        if not found:
            raise RollbackError(f"no version under {model_base}: nothing to roll back")
        served = found[-1]
        if to is None:
            if len(found) < 2:
                raise RollbackError(f"only version {served} under {model_base}: "
                                    "nothing earlier to roll back to")
            to = found[-2]
        if to not in found:
            raise RollbackError(f"version {to} is not under {model_base}; "
                                f"versions there: {found}")
        if to == served:
            raise RollbackError(f"version {to} is already the served version")
        source = os.path.join(model_base, str(to))
        record = {"from_version": to, "replaced_version": served,
                  "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

        def note(incoming: str) -> None:
            path = os.path.join(incoming, model_dir.METADATA_FILE)
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
            info["rollback"] = record
            with open(path, "w", encoding="utf-8") as f:
                json.dump(info, f, indent=1, ensure_ascii=False)

        marker = f"rollback of version {to} replacing {served} at {record['at']}"
        version = versions.write_version(source, model_base, marker, edit=note, keep=keep,
                                         config_files=config_files)
    return version, to, served


def cmd_rollback(args: argparse.Namespace) -> int:
    model_base = os.path.join(os.path.abspath(args.serving_dir), encoding.MODEL_NAME)
    try:
        version, to, served = rollback(model_base, args.to, args.keep,
                                       tuple(filter(None, [args.model_config_file])))
    except RollbackError as error:
        raise UserError(str(error)) from None
    print(f"version {version} now serves version {to}'s model (replacing version {served}) "
          f"under {model_base}")
    return 0


def add_rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(validate=arguments.paths_must_exist(
        "--serving-dir", fix="; pass the serving dir that holds names/<version>/"))
    parser.add_argument("--to", type=arguments.at_least(0),
                        help="the version to serve again (default: the one "
                        "before the served version)")
    parser.add_argument("--serving-dir", default=str(configs.DEFAULT_SERVING_DIR),
                        help="the serving dir holding names/<version>/")
    parser.add_argument("--keep", type=arguments.at_least(1), default=configs.KEEP_VERSIONS,
                        help="versions kept afterwards besides those in use")
    parser.add_argument("--model-config-file", help="a models.config outside the serving dir "
                        "whose labels and specific versions retention must keep")


