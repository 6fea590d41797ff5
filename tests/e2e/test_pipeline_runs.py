"""End to end: the pipeline on LocalDagRunner and BeamDagRunner, the CLI on its outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from data import encoding
from namegen import cli
from namegen.commands import run as run_command
from pipeline import configs, metadata
from serving import contract, model_dir
from tests.conftest import run_pipeline

pytestmark = pytest.mark.slow  # every test here runs the pipeline

HEAVY = {"FileBasedExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
         "NameValidator", "DataGate", "Transform", "Trainer"}


def test_ingests_the_dinosaur_list(tiny_run):
    store = metadata.open_store(str(tiny_run.pipeline_root))
    examples = metadata.latest_artifact(store, "Examples", producer="FileBasedExampleGen")
    assert metadata.custom(examples, "num_lines") == 1543
    assert metadata.custom(examples, "num_kept") == 1543
    assert metadata.custom(examples, "num_distinct") == 1530
    summary = run_command.run_summary(str(tiny_run.pipeline_root), str(tiny_run.serving_dir), 1.0)
    assert "52 name characters + <pad>, <eon> + 1 OOV = 55 ids" in summary
    assert "longest name    23 characters" in summary
    assert "pushed version 1" in summary
    assert len(summary.split(f"(temperature {contract.SAMPLER['temperature']}):")[1].split()) == 10


def test_pushed_model_has_the_tf_serving_layout(tiny_run):
    assert model_dir.versions(tiny_run.model_base) == [1]
    version = tiny_run.model_base / "1"
    assert (version / "saved_model.pb").is_file()
    assert (version / "variables" / "variables.index").is_file()
    info = model_dir.read_metadata(version)
    assert info["hyperparameters"]["preset"] == "tiny"
    assert info["vocabulary"][:2] == list(encoding.RESERVED_TOKENS)
    assert not [p for p in tiny_run.model_base.iterdir() if p.name.startswith(".incoming")]


def test_a_local_run_leaves_no_tfx_sdist_in_the_temp_folder(tiny_run):
    """Beam runs in-process, so no Beam component builds TFX's 49 MB `tfx_ephemeral` sdist."""
    assert tiny_run.temp_dir.is_dir()
    assert not list(tiny_run.temp_dir.rglob("tfx_ephemeral*"))


def test_generate_command_prints_names(tiny_run, capsys):
    assert cli.main(["generate", "--model", str(tiny_run.serving_dir), "-n", "5",
                     "--prefix", "Ra", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and all(r["name"].startswith("Ra") for r in rows)
    assert all(r["log_prob"] < 0 for r in rows)


def test_score_of_the_eval_split_matches_the_trainers_eval_loss(tiny_run, capsys):
    assert cli.main(["score", "--model", str(tiny_run.serving_dir), "--pipeline-root",
                     str(tiny_run.pipeline_root), "--split", "eval", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    trained = model_dir.read_metadata(tiny_run.version_dir)["metrics"]["eval_nats_per_char"]
    assert abs(scored["nats_per_char"] - trained) < 1e-4


def test_a_rerun_with_nothing_changed_executes_no_heavy_component(tiny_run):
    store = metadata.open_store(str(tiny_run.pipeline_root))
    before = len(store.get_executions())
    run_pipeline(tiny_run.data_path, tiny_run.pipeline_root.parent, tiny_run.hyperparameters)
    store = metadata.open_store(str(tiny_run.pipeline_root))
    rerun = metadata.executions(store)[before:]
    states = {r["component"]: r["state"] for r in rerun}
    assert {c for c in HEAVY if states[c] == "CACHED"} == HEAVY
    assert model_dir.versions(tiny_run.model_base) == [1]  # the same model is not pushed twice


# A one-epoch model samples far from real names: these tests are about the pipeline, not quality.
ANY_SAMPLES = dict(max_length_tv_over_noise=1.0, max_reverse_score_over_floor=100.0,
                   copy_rate_sigmas=1e9)


def test_beam_dag_runner_runs_the_same_pipeline(tmp_path, dinos_path):
    small = tmp_path / "small.txt"
    small.write_text("\n".join(dinos_path.read_text().split()[:300]) + "\n")
    gate = dict(configs.GATE, max_nats_per_char=10.0, min_validity=0.0, **ANY_SAMPLES)
    run = run_pipeline(small, tmp_path, configs.hyperparameters("tiny", {"epochs": 1}),
                       runner="beam", gate=gate)
    assert model_dir.versions(run.model_base) == [1]


RUN_IN_COPY = """
import json, sys
from pipeline import configs, local_runner, metadata
assert str(configs.PROJECT_ROOT) == sys.argv[1], f"imported from {configs.PROJECT_ROOT}"
root = sys.argv[3]
gate = dict(configs.GATE, max_nats_per_char=10.0, min_validity=0.0,
            max_length_tv_over_noise=1.0, max_reverse_score_over_floor=100.0, copy_rate_sigmas=1e9)
local_runner.run(sys.argv[2], root + "/pipeline", root + "/serving",
                 configs.hyperparameters("tiny", {"epochs": 1}),
                 beam_pipeline_args=configs.BEAM_ARGS_TEST, gate=gate)
print(json.dumps(metadata.executions(metadata.open_store(root + "/pipeline"))))
"""


def test_a_change_to_code_the_export_imports_reruns_the_trainer(tmp_path, dinos_path):
    """In a copy of the project: a re-run is fully cached; after components/trainer/warmup.py
    changes, the Trainer executes again."""
    from tests.pipeline.test_fingerprint import project_copy

    copy = project_copy(tmp_path)
    data = tmp_path / "names.txt"
    data.write_text("\n".join(dinos_path.read_text().split()[:300]) + "\n")
    env = dict(os.environ, PYTHONPATH=str(copy), TMPDIR=str(tmp_path))

    def run() -> dict[str, str]:
        done = subprocess.run([sys.executable, "-c", RUN_IN_COPY, str(copy), str(data),
                               str(tmp_path / "run")], cwd=copy, env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        return rows

    first = run()
    second = run()[len(first):]
    assert second and {r["state"] for r in second} == {"CACHED"}, second  # fully cached
    warmup = copy / "components" / "trainer" / "warmup.py"
    warmup.write_text(warmup.read_text() + "\n# changed: what the export runs is new code\n")
    third = {r["component"]: r["state"] for r in run()[len(first) + len(second):]}
    assert third["Trainer"] == "COMPLETE"
