"""The playground's pieces that need no browser or model: `serve --help` documents the page and
--no-ui, and the Pusher writes the gate record the page shows. The page in a browser:
tests/e2e/test_playground_in_a_browser.py."""

from __future__ import annotations


def test_serve_help_documents_the_page_and_no_ui():
    from namegen import cli

    parser = cli.build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    text = " ".join(serve.format_help().split())
    assert "playground page at /" in text and "--no-ui" in text
    args = parser.parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.no_ui is False
    assert parser.parse_args(["serve", "--no-ui"]).no_ui is True


def test_the_pusher_writes_the_gate_record_into_the_version_before_the_rename(tmp_path):
    from components.pusher.executor import push_atomically
    from serving import model_dir

    source = tmp_path / "model"
    (source / "assets.extra").mkdir(parents=True)
    (source / "saved_model.pb").write_bytes(b"")
    gate = {"blessed": True, "reason": "eval 1.9 nats/char", "validity": 1.0}
    assert push_atomically(str(source), str(tmp_path / "names"), gate=gate) == 1
    assert model_dir.read_gate(tmp_path / "names" / "1") == gate
    assert push_atomically(str(source), str(tmp_path / "other")) == 1
    assert model_dir.read_gate(tmp_path / "other" / "1") is None
