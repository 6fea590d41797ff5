"""Training data: the transformed id sequences of a split, streamed with tf.data and batched."""

from __future__ import annotations

import abc
import glob
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from components.trainer.model import decode_ids
from data import encoding

READ_BATCH = 4096  # records parsed at a time
SHUFFLE_BUFFER = 100_000  # names held for shuffling: the whole split up to this size
BUCKET_CHUNK = 16  # bucketing sorts this many batches' worth of names by length


def split_files(file_patterns: list[str]) -> list[str]:
    """The split's files, sorted (a runner may list them in any order)."""
    return sorted(f for pattern in file_patterns for f in glob.glob(pattern))


def ids_spec(tft_output) -> dict:
    """The parsing spec of the one feature training reads: the padded id sequence."""
    return {encoding.IDS_FEATURE: tft_output.transformed_feature_spec()[encoding.IDS_FEATURE]}


def read_ids(files: list[str], spec: dict) -> tf.data.Dataset:
    """Blocks of id rows [<= READ_BATCH, SEQUENCE_LENGTH] in file order."""
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(READ_BATCH)
    return records.map(lambda r: tf.io.parse_example(r, spec)[encoding.IDS_FEATURE])


def load_split(file_patterns: list[str], tft_output) -> np.ndarray:
    """All id sequences of a split in memory [names, SEQUENCE_LENGTH], in a canonical order.

    For the tuner and the benches on small splits; the Trainer streams (`StreamedSplit`).
    """
    parts = [block.numpy() for block in read_ids(split_files(file_patterns),
                                                 ids_spec(tft_output))]
    if not parts:
        return np.zeros([0, encoding.SEQUENCE_LENGTH], np.int64)
    ids = np.concatenate(parts)
    return ids[np.lexsort(ids.T[::-1])]  # file order depends on the runner


def fold_of(ids: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A seeded hash of each id row, modulo folds: the same name always gets the same fold.

    Padding does not change it (a cropped batch hashes like the full row), and duplicates of a
    name share its fold, so cross-fitting never lets a name teach itself.
    """
    multipliers = np.random.default_rng(seed).integers(
        1, 2**61, size=encoding.SEQUENCE_LENGTH, dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        mixed = (ids.astype(np.uint64) * multipliers[:ids.shape[1]]).sum(axis=1, dtype=np.uint64)
        mixed ^= mixed >> np.uint64(31)
        mixed *= np.uint64(0x9E3779B97F4A7C15)
        mixed ^= mixed >> np.uint64(29)
    return (mixed % np.uint64(folds)).astype(np.int64)


def input_options() -> tf.data.Options:
    """tf.data without its autotuner, which slowed the training step beside it.

    With it on, epochs on 2 cores ran at one core's speed about half the time (dinos, default
    preset: 2.6 s against 1.7 s). The input pipeline has no AUTOTUNE setting to tune.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of one epoch (fixed, so a resumed epoch replays the same order)."""
    return (seed * 1_000_003 + epoch) % (2**31 - 1)


def batched(rows: tf.data.Dataset, batch_size: int, shuffle_seed: int | None, bucket: bool,
            longest: int) -> tf.data.Dataset:
    """Batches [batch, width] of id rows; shuffled when shuffle_seed is given.

    With bucket, names of similar length share a batch (sorted within chunks of BUCKET_CHUNK
    batches) and padding is cut to the batch's longest; without it every batch is `longest`
    wide, as the tutorial pads.
    """
    if shuffle_seed is not None:
        rows = rows.shuffle(SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=False)
    if not bucket:
        return rows.batch(batch_size).map(lambda batch: batch[:, :longest])

    def sorted_batches(chunk: tf.Tensor) -> tf.data.Dataset:
        lengths = tf.reduce_sum(tf.cast(chunk != encoding.PAD_ID, tf.int32), axis=1)
        chunk = tf.gather(chunk, tf.argsort(lengths, stable=True))
        count = tf.cast(tf.shape(chunk)[0], tf.int64)
        starts = tf.data.Dataset.range(0, count, batch_size)
        return starts.map(lambda start: crop(chunk[start:start + batch_size]))

    batches = rows.batch(batch_size * BUCKET_CHUNK).flat_map(sorted_batches)
    if shuffle_seed is not None:
        batches = batches.shuffle(4 * BUCKET_CHUNK, seed=shuffle_seed + 1,
                                  reshuffle_each_iteration=False)
    return batches


def crop(batch: tf.Tensor) -> tf.Tensor:
    """A batch cut to its longest sequence (end-of-name included)."""
    width = tf.reduce_max(tf.reduce_sum(tf.cast(batch != encoding.PAD_ID, tf.int32), axis=1))
    return batch[:, :width]


class Split(abc.ABC):
    """A split to train or evaluate on: its size, its names as text, and its batches per epoch.

    `StreamedSplit` reads the transformed TFRecords on every pass; `ArraySplit` wraps ids
    already in memory (tests, the tuner and the benches). Both batch with `batched`.
    """

    count: int  # names
    characters: int  # predicted characters: name characters + end-of-name
    longest: int  # the longest id sequence, end-of-name included

    @property
    @abc.abstractmethod
    def names(self) -> list[str]:
        """The names as text (for the teacher and the export's copy check)."""

    @abc.abstractmethod
    def rows(self) -> tf.data.Dataset:
        """The id rows of one pass, in file order."""

    def __len__(self) -> int:
        return self.count

    def batch_count(self, batch_size: int) -> int:
        """Batches in one pass: `batched` gives ceil(count / batch_size), bucketed or not."""
        return -(-self.count // batch_size)

    def folds(self, count: int, seed: int) -> np.ndarray:
        """Each name's cross-fitting fold (`fold_of`), in the order of `names`."""
        parts = [fold_of(block.numpy(), count, seed) for block in self.rows().batch(READ_BATCH)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def batches(self, batch_size: int, shuffle_seed: int | None, bucket: bool):
        """NumPy batches of one pass, in a seeded order (or file order without a seed)."""
        dataset = batched(self.rows(), batch_size, shuffle_seed, bucket, self.longest)
        return dataset.with_options(input_options()).prefetch(2).as_numpy_iterator()


class StreamedSplit(Split):
    """A split read from transformed TFRecords; one pass at construction counts it."""

    def __init__(self, files: list[str], spec: dict, vocabulary: Sequence[str | bytes]):
        self.files, self.spec = files, spec
        self._names: list[str] = []
        self.characters, self.longest = 0, 0
        for block in read_ids(files, spec):
            ids = block.numpy()
            lengths = (ids != encoding.PAD_ID).sum(axis=1)
            self._names += decode_ids(ids, vocabulary)
            self.characters += int(lengths.sum())
            self.longest = max(self.longest, int(lengths.max(initial=0)))
        self.count = len(self._names)

    @property
    def names(self) -> list[str]:
        return self._names

    def rows(self) -> tf.data.Dataset:
        return read_ids(self.files, self.spec).unbatch()


class ArraySplit(Split):
    """A split already in memory as an id array [names, SEQUENCE_LENGTH]."""

    def __init__(self, ids: np.ndarray, vocabulary: Sequence[str | bytes] = ()):
        self.ids, self.vocabulary = ids, vocabulary
        lengths = (ids != encoding.PAD_ID).sum(axis=1)
        self.count = len(ids)
        self.characters = int(lengths.sum())
        self.longest = int(lengths.max(initial=0))

    @property
    def names(self) -> list[str]:
        if not len(self.vocabulary):
            raise ValueError("ArraySplit: names need the vocabulary")
        return decode_ids(self.ids, self.vocabulary)

    def rows(self) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(self.ids)


def decode_names(ids: np.ndarray, tft_output) -> list[str]:
    """Id sequences back to the names they encode (special tokens dropped)."""
    return decode_ids(ids, tft_output.vocabulary_by_name(encoding.VOCAB_NAME))
