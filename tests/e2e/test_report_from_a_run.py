"""The HTML report: renders from a real run, valid PNGs, and loads in a headless browser."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from PIL import Image

from namegen import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


PROBE = """<script>window.addEventListener('load', () => {
  document.title = JSON.stringify([...document.images].map(i => [i.src.split('/').pop(),
    i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().height]));
});</script>"""



@pytest.fixture(scope="module")
def rendered(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return report.write_report(str(tiny_run.pipeline_root), str(out))



def test_report_has_plots_metrics_and_samples(rendered):
    page = rendered.read_text()
    for png in ("lengths.png", "loss.png"):
        assert f"src='{png}'" in page
        with Image.open(rendered.parent / png) as image:
            image.verify()
            assert image.size[0] > 300 and image.size[1] > 200
    assert "held-out nats/char" in page and "blessed" in page
    assert "T = 0.2" in page and "T = 1.0" in page
    assert "<th>default sampler</th>" in page  # the first column: what `generate` serves
    assert "No anomalies." in page



@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (.ci/run installs one)")
def test_report_loads_in_a_headless_browser(rendered, tmp_path):
    probed = rendered.parent / "probed.html"
    probed.write_text(rendered.read_text().replace("</body>", PROBE + "</body>"))
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--allow-file-access-from-files",
         "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    title = done.stdout.split("<title>")[1].split("</title>")[0]
    images = json.loads(title.replace("&quot;", '"'))
    assert sorted(name for name, *_ in images) == ["lengths.png", "loss.png"]
    assert all(width > 0 and height > 0 and shown > 0 for _, width, height, shown in images)
