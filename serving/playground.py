"""The playground page of `namegen serve` (off with --no-ui): static files and one read-only route.

The page (serving/ui/) talks to the server's own TF Serving REST API. It reads what TF Serving
has no API for from GET /playground/versions: each loaded version's assets.extra/namegen.json
(preset, when it was exported, its metrics). Nothing here can load, unload or push a model.
"""

from __future__ import annotations

import datetime
import http.server
import json
import logging
from pathlib import Path

from serving import contract, model_dir

log = logging.getLogger("namegen.serve")

UI_DIR = Path(__file__).parent / "ui"
VERSIONS_ROUTE = "/playground/versions"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
# request path -> file in UI_DIR: the page, and its scripts and style (exact names, no lookups)
STATIC_FILES = {"/": "index.html", "/index.html": "index.html",
                **{f"/ui/{p.name}": p.name for p in sorted(UI_DIR.iterdir())
                   if p.suffix in (".js", ".css")}}
# A page that runs only its own script and talks only to this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def serves(method: str, path: str) -> bool:
    """Whether a request is the playground's (everything else goes to the TF Serving routes)."""
    return method == "GET" and path.split("?", 1)[0] in (*STATIC_FILES, VERSIONS_ROUTE)


def respond(handler: http.server.BaseHTTPRequestHandler, manager) -> None:
    """Answers a request for which serves() is true: a static file or the versions list."""
    path = handler.path.split("?", 1)[0]
    if path == VERSIONS_ROUTE:
        body = json.dumps(versions(manager), ensure_ascii=False, allow_nan=False).encode()
        content_type = "application/json"
    else:
        filename = STATIC_FILES[path]
        content_type = CONTENT_TYPES[Path(filename).suffix]
        body = (UI_DIR / filename).read_bytes()
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in SECURITY_HEADERS.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def versions(manager) -> dict:
    """Every model's loaded versions, newest first, with what their namegen.json says; and
    the default sampler (contract.SAMPLER) the page opens with, as `namegen generate` uses."""
    models = []
    for name in sorted(manager.configs):
        loaded = []
        for version in sorted(manager.available(name), reverse=True):
            try:
                path = manager.servable(name, version).path
            except Exception:  # noqa: BLE001  unloaded since available() was read
                continue
            loaded.append(dict(version=version, **describe(Path(path))))
        models.append({"name": name, "versions": loaded})
    return {"models": models, "sampler": dict(contract.SAMPLER)}


def describe(version_dir: Path) -> dict:
    """Preset, export time, training metrics and gate metrics of one version folder."""
    metadata_path = version_dir / model_dir.METADATA_FILE
    try:
        info = model_dir.read_metadata(version_dir)
        exported = datetime.datetime.fromtimestamp(metadata_path.stat().st_mtime,
                                                   datetime.timezone.utc)
    except (OSError, ValueError) as error:
        log.warning("playground: no readable %s: %s", metadata_path, error)
        return {"preset": None, "max_name_length": None, "exported_at": None, "metrics": {},
                "gate": {}, "blessed": None, "gate_reason": None,
                "problem": f"{model_dir.METADATA_FILE} is missing or not valid JSON"}
    metrics = {k: v for k, v in (info.get("metrics") or {}).items() if _finite_number(v)}
    try:
        gate = model_dir.read_gate(version_dir) or {}
    except (OSError, ValueError) as error:
        log.warning("playground: unreadable %s: %s", version_dir / model_dir.GATE_FILE, error)
        gate = {}
    return {
        "preset": (info.get("hyperparameters") or {}).get("preset"),
        "max_name_length": info.get("max_name_length"),
        "exported_at": exported.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "metrics": metrics,
        "gate": {k: v for k, v in gate.items() if _finite_number(v)},
        "blessed": gate.get("blessed") if isinstance(gate.get("blessed"), bool) else None,
        "gate_reason": gate.get("reason") if isinstance(gate.get("reason"), str) else None,
    }


def _finite_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == value and abs(value) != float("inf"))
