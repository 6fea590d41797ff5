"""The playground page of `namegen serve`, driven in Debian's chromium by Playwright for Python.

Expected values come from the SavedModel's own signatures and from `namegen generate`, never
from the page. Set NAMEGEN_PLAYGROUND_SCREENSHOTS=docs/img to (re)take the README screenshots.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest

from data import encoding
from pipeline import configs
from serving import contract
from tests.support.playground_browser import launch_chromium
from tests.support.serving_helpers import copy_version, http, start_local_server

SCREENSHOTS = os.environ.get("NAMEGEN_PLAYGROUND_SCREENSHOTS")


WAIT_MS = 180_000  # a generous cap on each wait: the machine is shared, nothing is timed


HOSTILE = ["<img src=x onerror=alert(1)>", "<b>bold</b>"]  # each within the 32-character limit


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def second_model(tiny_run, tmp_path_factory) -> Path:
    """A second real training on tiny_run's transformed data (one epoch, another seed)."""
    import tensorflow_transform as tft

    from components.trainer import data, train
    from pipeline import metadata

    store = metadata.open_store(str(tiny_run.pipeline_root))
    graph = metadata.latest_artifact(store, "TransformGraph").uri
    examples = metadata.latest_artifact(store, "Examples", producer="Transform").uri
    output = tft.TFTransformOutput(graph)
    vocabulary = output.vocabulary_by_name(encoding.VOCAB_NAME)
    split = {name: data.ArraySplit(data.load_split([f"{examples}/Split-{name}/*"], output),
                                   vocabulary)
             for name in ("train", "eval")}
    root = tmp_path_factory.mktemp("second_model")
    hp = configs.resolve("tiny", {"epochs": 1}, seed=7)
    train.train_and_export(split["train"], split["eval"], output, hp, str(root / "run"),
                           str(root / "model"))
    return root / "model"



@pytest.fixture(scope="module")
def site(tiny_model, second_model, tmp_path_factory):
    """A local server with version 1 (tiny_run's push) and version 2 (second_model)."""
    base = tmp_path_factory.mktemp("playground") / "names"
    copy_version(tiny_model, base, 1)
    copy_version(second_model, base, 2)
    config = base.parent / "models.config"
    config.write_text("model_config_list { config { name: 'names' base_path: " + json.dumps(
        str(base)) + " model_platform: 'tensorflow' model_version_policy { all {} } } }")
    local = start_local_server(base, config_file=config)
    yield local
    local.stop()



@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as launched:
        yield launched



@pytest.fixture
def page(browser, site):
    """A fresh browser context on the page, loaded; checks it only ever called this server."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    requests, crashes = [], []
    tab.on("request", lambda request: requests.append(request.url))
    tab.on("pageerror", lambda error: crashes.append(str(error)))
    tab.goto(site.rest + "/")
    tab.wait_for_selector("body[data-ready='1']")
    yield tab
    context.close()
    assert crashes == [], crashes
    assert requests and all(url.startswith(site.rest + "/") for url in requests), requests



def saved_model_names(version_dir: Path, seed: int, n: int, **controls) -> list[dict]:
    from namegen.commands.names import generate_local

    return generate_local(str(version_dir), n, seed, **controls)



def namegen_generate(*argv: str) -> list[str]:
    """What `namegen generate` prints (run in this process: TensorFlow is already loaded)."""
    from namegen import cli

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["generate", *argv]) == 0
    return printed.getvalue().splitlines()



def table_names(page) -> list[str]:
    return page.locator("#names td.name").all_inner_texts()



def generate(page, **fields) -> None:
    for field, value in fields.items():
        page.fill(f"#{field}", str(value))
    page.click("#generate-button")  # disables the button until the server has answered
    page.wait_for_selector("#generate-button:not([disabled])")



def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"playground-{name}.png"), full_page=True)


# --- the page in a browser ---------------------------------------------------------------------
def test_page_lists_the_loaded_versions_newest_first(page, site):
    assert page.locator("#version option").evaluate_all("os => os.map(o => o.value)") \
        == ["2", "1"]
    assert "preset tiny" in page.inner_text("#version-info")
    assert page.input_value("#max-length") == str(encoding.MAX_NAME_LENGTH)
    # one default sampler: the page opens with `namegen generate`'s settings
    for field, key in (("temperature", "temperature"), ("eta", "eta"), ("top-p", "top_p")):
        assert float(page.input_value(f"#{field}")) == contract.SAMPLER[key]
    for field, key in (("no-copy", "no_copy"), ("unique", "unique"),
                       ("length-calibration", "length_calibration")):
        assert page.is_checked(f"#{field}") == contract.SAMPLER[key]


def test_generated_names_equal_namegen_generate_and_follow_the_temperature(page, site):
    version_dir = site.model_base / "2"
    generate(page, seed=7, count=10, temperature=0.9, **{"top-k": 5, "min-length": 3})
    shown = table_names(page)
    assert shown == namegen_generate("--model", str(version_dir), "--seed", "7", "-n", "10",
                                     "--temperature", "0.9", "--top-k", "5", "--min-length", "3")
    assert page.locator("#names tr td.num").first.inner_text() == "7"
    page.click("#repeat-button")
    page.wait_for_selector("#repeat-result.ok")
    assert "the same 10 names" in page.inner_text("#repeat-result")

    page.check("#no-copy")
    generate(page, temperature=1.6, prefix="Ta")
    hotter = table_names(page)
    assert hotter == namegen_generate("--model", str(version_dir), "--seed", "7", "-n", "10",
                                      "--temperature", "1.6", "--top-k", "5",
                                      "--min-length", "3", "--prefix", "Ta", "--no-copy")
    assert hotter != shown and all(name.startswith("Ta") for name in hotter)



def test_scores_and_surprise_equal_the_score_signature(page, site):
    import tensorflow as tf

    names = ["Tyrannosaurus", "Qxzzkrv"]
    page.click("#tab-score")
    page.fill("#score-names", "\n".join(names))
    page.click("#score-button")
    page.wait_for_selector("#score-table:not([hidden])")
    loaded = tf.saved_model.load(str(site.model_base / "2"))
    expected = loaded.signatures["score"](name=tf.constant(names))
    rows = page.locator("#scores tr")
    assert rows.count() == 2
    for i, name in enumerate(names):
        cells = rows.nth(i).locator("td")
        assert cells.nth(0).inner_text() == name
        assert float(cells.nth(1).inner_text()) == pytest.approx(
            float(expected["nats_per_char"][i]), abs=6e-5)
        assert float(cells.nth(2).inner_text()) == pytest.approx(
            float(expected["log_likelihood"][i]), abs=6e-5)
        letters = cells.nth(3).locator(".letter")
        assert letters.all_inner_texts() == [*name, "⏎"]
        shown = [float(v) for v in letters.evaluate_all("ls => ls.map(l => l.dataset.logProb)")]
        count = int(expected["num_predictions"][i])
        assert shown == pytest.approx(
            expected["position_log_probs"][i][:count].numpy().tolist(), abs=1e-6)
    # the likelier name is shown as less surprising, and its letters carry lighter classes
    assert float(rows.nth(0).locator("td").nth(1).inner_text()) < float(
        rows.nth(1).locator("td").nth(1).inner_text())
    screenshot(page, "score")



def test_star_and_export_the_starred_names(page, tmp_path):
    generate(page, seed=100, count=10, temperature=0.8)
    names = table_names(page)
    stars = page.locator("#names button.star")
    stars.nth(0).click()
    stars.nth(2).click()
    stars.nth(3).click()
    stars.nth(3).click()  # starred, then unstarred
    assert page.locator("#starred .name").all_inner_texts() == [names[0], names[2]]
    assert page.inner_text("#starred-count") == "(2)"
    screenshot(page, "generate")
    with page.expect_download() as download:
        page.click("#export-button")
    saved = tmp_path / "starred.txt"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "namegen-starred.txt"
    assert saved.read_text(encoding="utf-8") == f"{names[0]}\n{names[2]}\n"



def test_compare_two_versions_on_the_same_seeds(page, site, tiny_run):
    from pipeline import metadata

    page.click("#tab-compare")
    rows = page.locator("#versions tr")
    assert rows.count() == 2
    for i, version in enumerate((2, 1)):
        info = json.loads((site.model_base / str(version) / "assets.extra" / "namegen.json")
                          .read_text(encoding="utf-8"))
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[:2] == [str(version), info["hyperparameters"]["preset"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", cells[2])
        assert cells[3] == f"{info['metrics']['eval_nats_per_char']:.4f}"
    # version 1 went through the gate and the Pusher: its row shows the gate's own record
    store = metadata.open_store(str(tiny_run.pipeline_root))
    gate = json.loads((Path(metadata.latest_artifact(store, "ModelEvaluation").uri)
                       / "metrics.json").read_text(encoding="utf-8"))
    shown = rows.nth(1).locator("td").nth(4).inner_text()
    assert shown.startswith("blessed · " if gate["blessed"] else "not blessed · ")
    for key in ("eval_nats_per_char", "novelty", "validity", "length_tv_distance", "casing"):
        assert f"{key} {gate['candidate'][key]:.3f}" in shown
    assert rows.nth(0).locator("td").nth(4).inner_text() == "not recorded"  # never pushed
    page.select_option("#compare-a", "1")
    page.select_option("#compare-b", "2")
    page.fill("#compare-seed", "3")
    page.fill("#compare-count", "8")
    page.fill("#compare-temperature", "1.0")
    page.click("#compare-button")
    page.wait_for_selector("#compare-table:not([hidden])")
    shown = page.locator("#comparison tr")
    assert shown.count() == 8
    columns = {side: [shown.nth(i).locator("td").nth(col).locator(".name").inner_text()
                      for i in range(8)] for side, col in (("a", 1), ("b", 2))}
    for side, version in (("a", 1), ("b", 2)):
        expected = saved_model_names(site.model_base / str(version), 3, 8, temperature=1.0)
        assert columns[side] == [row["name"] for row in expected]
    assert columns["a"] != columns["b"]
    assert page.inner_text("#compare-head-a") == "version 1"
    screenshot(page, "compare")



def test_errors_are_shown_in_words_next_to_the_field(page, site):
    generate(page, prefix="Té", seed=0, count=3)
    assert page.locator("#names-table").is_hidden()
    message = page.inner_text("#prefix-error")
    assert "outside the vocabulary" in message and "é" in message
    assert page.get_attribute("#prefix", "aria-invalid") == "true"
    screenshot(page, "error")

    generate(page, prefix="", temperature=9)
    sampler = contract.SAMPLER  # the page opens with the default sampler: the `sample` signature
    body = json.dumps({"signature_name": "sample", "inputs": {
        "prefix": [""], "temperature": [9.0], "seed": [0], "max_length": [32],
        "top_k": [sampler["top_k"]], "top_p": [sampler["top_p"]],
        "min_length": [sampler["min_length"]], "no_copy": [sampler["no_copy"]],
        "eta": [sampler["eta"]], "length_calibration": [sampler["length_calibration"]],
        "unique": [1 if sampler["unique"] else 0]}}).encode()
    status, answer = http("POST", site.rest + "/v1/models/names/versions/2:predict", body)
    assert status == 400
    assert page.inner_text("#temperature-error") == answer["error"]
    assert page.inner_text("#prefix-error") == ""

    generate(page, temperature=0.8, count=300)
    assert page.inner_text("#count-error") == "Count must be between 1 and 256; got 300."



def test_an_overloaded_server_is_shown_as_429_next_to_the_button(browser, tiny_model, tmp_path):
    from serving.model_servers import http_server as server
    from serving.model_servers import manager as models
    from serving.model_servers import model_config
    from serving.model_servers.server_core import ModelServer

    copy_version(tiny_model, tmp_path / "names", 1)
    manager = models.ModelManager([model_config.single_model_config("names", tmp_path / "names")])
    core = ModelServer(manager, max_concurrent=1, max_queued=0)
    manager.start()
    endpoints = server.start(core, "127.0.0.1", 0, 0)
    try:
        context = browser.new_context()
        context.set_default_timeout(WAIT_MS)
        tab = context.new_page()
        tab.goto(f"http://127.0.0.1:{endpoints.rest_port}/")
        tab.wait_for_selector("body[data-ready='1']")
        with core.admission.slot():  # the one slot is taken: every predict meanwhile is a 429
            generate(tab, seed=0, count=2)
        message = tab.inner_text("#generate-error")
        assert message.startswith("The server is busy (429 Too Many Requests): ")
        assert "at capacity" in message
        context.close()
    finally:
        server.drain(core, endpoints, grace=5)



def test_a_hostile_name_is_rendered_as_text(page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#tab-score")
    page.fill("#score-names", "\n".join(HOSTILE))
    page.click("#score-button")
    page.wait_for_selector("#score-table:not([hidden])")
    assert page.locator("#scores td.name").all_text_contents() == HOSTILE
    letters = page.locator("#scores tr").first.locator(".letter").all_text_contents()
    assert "".join(letters) == HOSTILE[0] + "⏎"
    page.click("#tab-generate")
    generate(page, prefix=HOSTILE[0])
    assert "outside the vocabulary" in page.inner_text("#prefix-error")
    assert "<" in page.inner_text("#prefix-error")
    assert page.locator("img, b").count() == 0 and dialogs == []


# --- the server side, no browser ---------------------------------------------------------------
def test_the_page_and_its_route_are_read_only_and_self_contained(site):
    import urllib.request

    with urllib.request.urlopen(site.rest + "/", timeout=30) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    status, listing = http("GET", site.rest + "/playground/versions")
    assert status == 200
    assert [v["version"] for v in listing["models"][0]["versions"]] == [2, 1]
    assert listing["sampler"] == contract.SAMPLER  # the defaults the page opens with
    for method in ("POST", "PUT", "DELETE"):
        status, _ = http(method, site.rest + "/playground/versions", b"{}")
        assert status in (400, 404)
    status, _ = http("GET", site.rest + "/v1/models/names")
    assert status == 200



def test_no_ui_turns_the_page_off(tiny_model, tmp_path):
    from serving.model_servers import http_server as server
    from serving.model_servers import manager as models
    from serving.model_servers import model_config
    from serving.model_servers.server_core import ModelServer

    copy_version(tiny_model, tmp_path / "names", 1)
    manager = models.ModelManager([model_config.single_model_config("names", tmp_path / "names")])
    core = ModelServer(manager)
    manager.start()
    endpoints = server.start(core, "127.0.0.1", 0, 0, ui=False)
    try:
        rest = f"http://127.0.0.1:{endpoints.rest_port}"
        for path in ("/", "/ui/app.js", "/playground/versions"):
            status, body = http("GET", rest + path)
            assert status == 404 and "Not found" in body["error"]
        assert http("GET", rest + "/v1/models/names")[0] == 200
    finally:
        server.drain(core, endpoints, grace=5)
