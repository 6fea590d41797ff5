"""Weight averaging over the last epochs (`average_last_epochs`, stochastic weight averaging).

At the end of each epoch the live weights are kept as one of the last K snapshots; evaluation,
early stopping and the export then use the snapshots' mean, while training goes on from the
live weights. The exported model is the same GRU, its weights an average.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


class LastEpochsAverage:
    """A ring of the last K end-of-epoch weights and their mean swapped in and out of a model."""

    def __init__(self, variables: Sequence[tf.Variable], epochs: int):
        """Create under the loop's strategy scope; `state()` goes into its checkpoint."""
        if epochs < 1:
            raise ValueError(f"average_last_epochs={epochs}: need at least one epoch")
        self.epochs = epochs
        self.snapshots = [[tf.Variable(w, trainable=False) for w in variables]
                          for _ in range(epochs)]
        self.taken = tf.Variable(0, dtype=tf.int64, trainable=False)  # snapshots ever taken
        self.live = [tf.Variable(w, trainable=False) for w in variables]  # while swapped in

    def state(self) -> dict:
        """What a checkpoint must hold to resume the average."""
        return {"snapshots": self.snapshots, "taken": self.taken}

    def record(self, variables: Sequence[tf.Variable]) -> None:
        """Keep the current weights as the newest snapshot (the oldest one goes)."""
        slot = int(self.taken.numpy()) % self.epochs
        for snapshot, weight in zip(self.snapshots[slot], variables):
            snapshot.assign(weight)
        self.taken.assign_add(1)

    def mean(self) -> list[tf.Tensor]:
        """The mean of the snapshots taken so far (at most the last K)."""
        count = min(int(self.taken.numpy()), self.epochs)
        if not count:
            raise ValueError("no snapshot taken yet")
        return [tf.add_n([ring[i] for ring in self.snapshots[:count]]) / count
                for i in range(len(self.live))]

    def swap_in(self, variables: Sequence[tf.Variable]) -> None:
        """Put the mean into the model, keeping the live weights for swap_out."""
        for live, weight, average in zip(self.live, variables, self.mean()):
            live.assign(weight)
            weight.assign(average)

    def swap_out(self, variables: Sequence[tf.Variable]) -> None:
        """Put the live weights back (training continues from them)."""
        for live, weight in zip(self.live, variables):
            weight.assign(live)
