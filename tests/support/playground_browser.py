"""Debian's chromium driven by Playwright for Python, for the playground tests.

Playwright is installed into the running venv with pip when missing (it is a test tool, not in
requirements.lock), and drives /usr/bin/chromium: no browser is downloaded. Where chromium or
Playwright cannot be installed the tests skip, loudly.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import subprocess
import sys
import warnings

import pytest

PLAYWRIGHT = "playwright==1.65.2"  # pinned like the lock; .ci/run installs the same

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _skip_loudly(message: str):
    banner = f"\n{'!' * 78}\n!! BROWSER TESTS SKIPPED: {message}\n{'!' * 78}"
    print(banner, file=sys.stderr)
    warnings.warn(banner, stacklevel=2)
    pytest.skip(f"BROWSER TESTS SKIPPED: {message}")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def sync_api():
    """playwright.sync_api, pip-installed into this interpreter's venv on first use."""
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        pass
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", PLAYWRIGHT],
                          capture_output=True, text=True, timeout=900)
    importlib.invalidate_caches()
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        _skip_loudly("the playwright package could not be installed with pip: "
                     f"{(done.stderr or done.stdout).strip()[-500:]}")


@contextlib.contextmanager
def launch_chromium():
    """A headless chromium Browser (Playwright), closed on exit."""
    executable = chromium_path()
    if executable is None:
        _skip_loudly("no chromium on PATH; install it with `apt-get install -y chromium` "
                     "(.ci/run does)")
    api = sync_api()
    with api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
