"""Property-based fuzzing of the exported signatures, loaded in-process.

Every call either returns well-formed output (valid UTF-8, only vocabulary characters, length
within the cap, the prefix kept) or raises INVALID_ARGUMENT with a message. Inputs that must be
refused (NaN or negative temperatures, negative lengths, top_p outside (0, 1]) are refused. A
watchdog ends the process with a traceback if a call hangs.

More examples: NAMEGEN_FUZZ_EXAMPLES=2000 pytest tests/e2e/test_fuzz_exported_signatures.py
Random seeds: NAMEGEN_FUZZ_SEED=random (prints the seed; NAMEGEN_FUZZ_SEED=<n> replays it)
"""

from __future__ import annotations

import faulthandler
import json
import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data import encoding
from tests.support.fuzzing import fuzz

CALL_SECONDS = 600.0  # a generous cap: one call this long is a hang, not a slow machine
FUZZ = fuzz(300)

INT32, INT64 = (-2**31, 2**31 - 1), (-2**63, 2**63 - 1)
NASTY_TEXT = ["", "Ty", "e\u0301", "\u0301", "\U0001F995", "\U0001F468\u200D\U0001F469", "\x00",
              "\x1b[31m", "\ufeff", "\u202e", "A" * 32, "A" * 33, "A" * 10_000, "<pad>", "<eon>",
              "\r\n", "\ud7ff", "\U0010FFFF"]
NASTY_BYTES = [b"\xff", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"T\x80y",
               b"\xe2\x82"]


@pytest.fixture(scope="module")
def model(tiny_model):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(tiny_model))
    info = json.loads((tiny_model / "assets.extra" / "namegen.json").read_text(encoding="utf-8"))
    characters = set(info["vocabulary"]) - set(encoding.RESERVED_TOKENS)
    return loaded.signatures["serving_default"], loaded.signatures["score"], characters


def texts(characters: set[str] | None = None):
    """Prefixes and names: arbitrary Unicode, invalid UTF-8 bytes, edge cases, valid ones."""
    options = [st.text(max_size=40), st.sampled_from(NASTY_TEXT),
               st.binary(max_size=40), st.sampled_from(NASTY_BYTES),
               st.text(alphabet=st.characters(categories=["Mn", "Cc", "Cf", "So", "Zl", "Zp"]),
                       max_size=8)]
    if characters:
        options.append(st.text(alphabet=sorted(characters), max_size=34))
    return st.one_of(*options)


def floats32():
    return st.one_of(st.floats(width=32), st.sampled_from(
        [0.0, -0.0, 1e-45, 1e-30, 1e-6, 0.5, 1.0, 5.0, 1e30, 3.4e38, math.nan, math.inf,
         -math.inf, -1.0]))


def ints(low_high: tuple[int, int], specials: list[int]):
    return st.one_of(st.integers(*low_high), st.sampled_from(specials))


@st.composite
def requests(draw, characters):
    rows = draw(st.integers(1, 4))

    def column(strategy):
        return [draw(strategy) for _ in range(rows)]

    return dict(
        prefix=column(texts(characters)),
        temperature=column(floats32()),
        seed=column(ints(INT64, [0, -1, 1, INT64[0], INT64[1]])),
        max_length=column(ints(INT32, [0, 1, 2, 31, 32, 33, -1, INT32[1], INT32[0]])),
        top_k=column(ints(INT32, [0, 1, 3, 100, -1, INT32[1]])),
        top_p=column(st.one_of(floats32(), st.sampled_from([1.0, 0.9, 1e-9, 1.0000001]))),
        min_length=column(ints(INT32, [0, 1, 32, 33, -1, INT32[1]])),
        no_copy=column(st.booleans()),
    )


def _encoded(value) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def as_float32(value: float) -> float:
    """The value the graph sees: float32, with denormals flushed to zero as TF's CPU ops do
    (so a top_p of 1e-45 is 0 there, and refused)."""
    value = float(np.float32(value))
    return 0.0 if abs(value) < np.finfo(np.float32).tiny else value


def must_refuse(request: dict) -> bool:
    """Rows that the signature has to reject."""
    for i in range(len(request["prefix"])):
        t, p = as_float32(request["temperature"][i]), as_float32(request["top_p"][i])
        if not math.isfinite(t) or t < 0:
            return True
        if not (p > 0.0 and p <= 1.0):
            return True
        if request["max_length"][i] < 0 or request["top_k"][i] < 0 or \
                request["min_length"][i] < 0:
            return True
    return False


def _valid_utf8(value) -> bool:
    try:
        _encoded(value).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(value) -> str:
    return _encoded(value).decode("utf-8", "replace")


def _valid_prefix(prefix, max_length: int, characters: set[str]) -> bool:
    try:
        text = prefix.decode("utf-8") if isinstance(prefix, bytes) else prefix
    except UnicodeDecodeError:
        return False
    return set(text) <= characters and len(text) <= min(max_length, encoding.MAX_NAME_LENGTH)


class Watchdog:
    """Ends the process with every thread's traceback if a call does not return in time."""

    def __enter__(self):
        faulthandler.dump_traceback_later(CALL_SECONDS, exit=True)
        self.began = time.monotonic()
        return self

    def __exit__(self, *exc):
        faulthandler.cancel_dump_traceback_later()
        self.seconds = time.monotonic() - self.began
        return False


def test_generate_is_well_formed_or_invalid_argument(model):
    import tensorflow as tf

    generate, _, characters = model

    @FUZZ
    @given(request=requests(characters))
    def check(request):
        tensors = {
            "prefix": tf.constant([_encoded(p) for p in request["prefix"]], tf.string),
            "temperature": tf.constant(request["temperature"], tf.float32),
            "seed": tf.constant(request["seed"], tf.int64),
            "max_length": tf.constant(request["max_length"], tf.int32),
            "top_k": tf.constant(request["top_k"], tf.int32),
            "top_p": tf.constant(request["top_p"], tf.float32),
            "min_length": tf.constant(request["min_length"], tf.int32),
            "no_copy": tf.constant(request["no_copy"], tf.bool),
        }
        try:
            with Watchdog():
                out = generate(**tensors)
        except tf.errors.InvalidArgumentError as error:
            assert error.message.strip(), "INVALID_ARGUMENT without a message"
            assert must_refuse(request) or not all(
                _valid_prefix(p, m, characters)
                for p, m in zip(request["prefix"], request["max_length"])
            ), f"a valid request was refused: {request}: {error.message}"
            return
        assert not must_refuse(request), f"accepted an invalid request: {request}"
        names = out["name"].numpy()
        lengths, log_probs = out["length"].numpy(), out["log_prob"].numpy()
        assert len(names) == len(request["prefix"])
        for i, raw in enumerate(names):
            name = raw.decode("utf-8")  # strict: valid UTF-8
            assert set(name) <= characters, f"special or unknown characters in {name!r}"
            cap = min(request["max_length"][i], encoding.MAX_NAME_LENGTH)
            assert len(name) == lengths[i] <= cap
            prefix = request["prefix"][i]
            prefix = prefix.decode("utf-8") if isinstance(prefix, bytes) else prefix
            assert name.startswith(prefix)
            assert math.isfinite(log_probs[i]) and log_probs[i] <= 1e-3

    check()


def test_score_is_well_formed_or_invalid_argument(model):
    import tensorflow as tf

    _, score, characters = model  # characters: to draw names inside the vocabulary too

    @FUZZ
    @given(names=st.lists(texts(characters), min_size=1, max_size=4))
    def check(names):
        try:
            with Watchdog():
                out = score(name=tf.constant([_encoded(n) for n in names], tf.string))
        except tf.errors.InvalidArgumentError as error:
            assert error.message.strip()
            assert any(not _valid_utf8(n) or len(_text(n)) > encoding.MAX_NAME_LENGTH
                       for n in names), f"valid names refused: {names!r}: {error.message}"
            return
        for name, ll, count in zip(names, out["log_likelihood"].numpy(),
                                   out["num_predictions"].numpy()):
            # Characters outside the vocabulary are scored as the OOV id (by design).
            assert len(_text(name)) <= encoding.MAX_NAME_LENGTH
            if _valid_utf8(name):
                assert count == len(_text(name)) + 1
            assert math.isfinite(ll) and ll <= 1e-3

    check()


def test_invalid_utf8_found_by_the_fuzzer_is_invalid_argument(model):
    """The two inputs hypothesis found at NAMEGEN_FUZZ_EXAMPLES=1500."""
    import tensorflow as tf

    generate, score, _ = model
    for names in ([b"\x00" * 32 + b"\xc0"], [b"\x00" * 32 + b"\x80"]):
        with pytest.raises(tf.errors.InvalidArgumentError):
            score(name=tf.constant(names, tf.string))
    from serving.contract import generation_request

    request = generation_request(1, seeds=[0])
    request["prefix"] = tf.constant([b"\xc0" * 33], tf.string)
    with pytest.raises(tf.errors.InvalidArgumentError):
        generate(**request)
