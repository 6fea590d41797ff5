"""Restore gives back exactly what was saved: weights, optimizer state, epoch, mid-epoch place.

`Checkpoints.restore` (components/trainer/resume.py) reads with expect_partial(), which would
stay silent about a variable that was not restored; these tests compare every saved value with
the restored one.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.trainer.loop import TrainingLoop
from components.trainer.model import build_model
from pipeline import configs

HP = configs.resolve("tiny", {"learning_rate": 0.05, "num_layers": 2})
BATCH = np.array([[3, 4, 5, 1, 0], [5, 3, 1, 0, 0], [4, 4, 3, 5, 1]], np.int64)


def trained(run_dir: str, steps: int) -> TrainingLoop:
    trainer = TrainingLoop(build_model(8, HP), HP, steps_per_epoch=4, run_dir=run_dir)
    for _ in range(steps):
        trainer.step(BATCH)
    return trainer


def fresh(run_dir: str) -> TrainingLoop:
    """A TrainingLoop on the same run dir whose weights are all different from any trained ones."""
    trainer = TrainingLoop(build_model(8, HP), HP, steps_per_epoch=4, run_dir=run_dir)
    for weight in trainer.model.trainable_variables:
        weight.assign(tf.fill(weight.shape, 0.123))
    return trainer


def saved_state(trainer: TrainingLoop) -> dict[str, np.ndarray]:
    trainer.optimizer.build(trainer.model.trainable_variables)  # slots exist (restored lazily)
    values = {f"model#{i}": v.numpy()
              for i, v in enumerate(trainer.model.trainable_variables)}
    values.update({f"optimizer#{i}": v.numpy()
                   for i, v in enumerate(trainer.optimizer.variables())})
    values.update({f"best/{i}": v.numpy() for i, v in enumerate(trainer.best_weights)})
    for name in ("epoch", "best_eval", "best_epoch", "batches_done", "partial"):
        values[name] = getattr(trainer, name).numpy()
    return values


def assert_same_state(restored: dict, saved: dict) -> None:
    assert restored.keys() == saved.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)


def test_epoch_checkpoint_restores_every_saved_value(tmp_path):
    first = trained(str(tmp_path), steps=3)
    first.epoch.assign(2)
    first.best_eval.assign(1.75)
    first.checkpoints.manager.save()
    saved = saved_state(first)
    second = fresh(str(tmp_path))
    assert not np.array_equal(second.model.trainable_variables[0].numpy(),
                              first.model.trainable_variables[0].numpy())
    assert second.checkpoints.restore()[0] == 2
    assert_same_state(saved_state(second), saved)


def test_interrupt_checkpoint_restores_the_batch_it_stopped_at(tmp_path):
    first = trained(str(tmp_path), steps=2)
    first.checkpoints.manager.save()  # an older epoch checkpoint; the interrupt one must win
    first.step(BATCH)
    first.epoch.assign(1)
    first.checkpoints.save_interrupted(batches_done=3, sums=(4.5, 9.0, 3.0))
    saved = saved_state(first)
    second = fresh(str(tmp_path))
    assert second.checkpoints.restore()[0] == 1
    assert_same_state(saved_state(second), saved)
    assert int(second.batches_done) == 3 and second.partial.numpy().tolist() == [4.5, 9.0, 3.0]


def test_the_next_step_after_restore_equals_the_uninterrupted_one(tmp_path):
    """Restored optimizer moments matter: one more step gives the same weights either way."""
    first = trained(str(tmp_path), steps=3)
    first.checkpoints.manager.save()
    second = fresh(str(tmp_path))
    second.checkpoints.restore()
    first.step(BATCH)
    second.step(BATCH)
    for ours, theirs in zip(second.model.trainable_variables, first.model.trainable_variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.name)
