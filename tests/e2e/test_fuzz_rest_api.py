"""Fuzzing `namegen serve`'s REST API with hypothesis over raw HTTP (127.0.0.1 only).

Malformed requests (paths, methods, bodies, JSON of any shape, near-valid predict requests with
wrong types, shapes and values) never get a 5xx: each answer is a JSON body, with an "error"
message whenever the status is 4xx. The server stays healthy afterwards.

Bodies include the shapes TF Serving's own suite found: nesting far past Python's recursion
limit, numbers beyond every range, and odd Unicode escapes (lone surrogates, bad hex).

More examples: NAMEGEN_FUZZ_EXAMPLES=2000 pytest tests/e2e/test_fuzz_rest_api.py
Random seeds: NAMEGEN_FUZZ_SEED=random (prints the seed; NAMEGEN_FUZZ_SEED=<n> replays it)
"""

from __future__ import annotations

import http.client as httpclient
import json
import math
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import fuzz
from tests.support.serving_helpers import SCORE_REQUEST, http, serving_first_version

FUZZ = fuzz(400)
INPUTS = {"prefix": "", "temperature": 1.0, "seed": 1, "max_length": 32, "top_k": 0,
          "top_p": 1.0, "min_length": 0, "no_copy": False}


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    with serving_first_version(tiny_model, tmp_path_factory.mktemp("fuzz_rest") / "names") as local:
        yield local


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False), st.text(max_size=20),
                      st.sampled_from([2**63, -2**63 - 1, 1e308, -0.0, "NaN", "Infinity", "",
                                       "\u0000", "\ud7ff", "é", "\U0001F995"]))
json_values = st.recursive(json_leaf, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12)


@st.composite
def near_valid_documents(draw):
    """A valid generate or score request with a few fields broken."""
    kind = draw(st.sampled_from(["columns", "rows", "score"]))
    if kind == "score":
        document = {"signature_name": "score",
                    "inputs": draw(st.lists(st.one_of(st.text(max_size=40), json_values),
                                            max_size=3))}
    else:
        rows = draw(st.integers(0, 3))
        columns = {k: [v] * rows for k, v in INPUTS.items()}
        for key in draw(st.lists(st.sampled_from(sorted(INPUTS)), max_size=3, unique=True)):
            columns[key] = draw(st.one_of(
                json_values, st.lists(json_values, max_size=3),
                st.lists(st.sampled_from([math.inf, -1, 2**31, 2**63, 1e39, "x", None, [1]]),
                         min_size=1, max_size=3)))
        if draw(st.booleans()):
            columns.pop(draw(st.sampled_from(sorted(INPUTS))), None)
        document = {"inputs": columns} if kind == "columns" else {
            "instances": [{k: v[i] if isinstance(v, list) and i < len(v) else v
                           for k, v in columns.items()} for i in range(max(rows, 1))]}
    for key in draw(st.lists(st.sampled_from(["signature_name", "instances", "inputs",
                                              "output_filter", "extra"]), max_size=2)):
        document[key] = draw(json_values)
    return document


HUGE_NUMBERS = ["1e400", "-1e400", "1e-400", "1" * 400, "-" + "9" * 30, "18446744073709551616",
                "9223372036854775808", "-9223372036854775809", "4.9e-324", "3.4028236e38",
                "1435774380", "16777217", "0." + "0" * 350 + "1", "1E+2", "-0"]
ODD_STRINGS = [r'"\ud800"', r'"\udc00"', r'"\ud800\u0041"', r'"\udbff\udfff"',
               r'"\uD83D\uDE00"', r'"\u0000"', r'"\uZZZZ"', r'"\u12"', r'"\x41"', r'"\"',
               '"\u00e9"', '"\t\n\\"', '"\x01"', '"é"', '"\ufeff"']


@st.composite
def odd_bodies(draw) -> bytes:
    """Deep nesting, huge numbers and odd escapes, placed where the parser and the tensor
    converter meet them: the inputs, an instance, an ignored key, or the whole document."""
    depth = draw(st.one_of(st.integers(1, 300), st.integers(300, 20_000)))
    kind = draw(st.sampled_from(["array", "object", "mixed"]))
    leaf = draw(st.one_of(st.sampled_from(HUGE_NUMBERS), st.sampled_from(ODD_STRINGS),
                          st.sampled_from(["1", "[]", "{}", "null", "true", ""])))
    if kind == "array":
        opened, closed = "[" * depth, "]" * depth
    elif kind == "object":
        opened, closed = '{"k":' * depth, "}" * depth
    else:
        opened, closed = '[{"k":' * depth, "}]" * depth
    if draw(st.booleans()):  # malformed: a bracket short, or one too many
        closed = closed[:-1] if draw(st.booleans()) else closed + closed[-1]
    value = opened + leaf + closed
    template = draw(st.sampled_from([
        '{"inputs": %s}', '{"instances": [%s]}', '{"instances": %s}',
        '{"signature_name": "score", "inputs": [%s]}', '{"inputs": {"prefix": [%s]}}',
        '{"instances": [{"prefix": %s}]}', '{"signature_name": %s}', "%s",
        '{"inputs": ["Rex"], "signature_name": "score", "ignored": %s}',
        '{"examples": [{"x": %s}]}', '{"inputs": {"temperature": [%s], "seed": [1]}}']))
    return (template % value).encode("utf-8")


def bodies():
    return st.one_of(
        odd_bodies(),
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        near_valid_documents().map(lambda d: json.dumps(d).encode()),
        near_valid_documents().map(lambda d: json.dumps(d).encode()[: len(json.dumps(d)) // 2]),
        st.sampled_from([b"", b"{", b"[]", b"null", b'{"inputs": NaN}', b'{"inputs": 1e999}',
                         b"\xff\xfe{}", b'{"instances": [{"b64": "!!!"}]}',
                         b'{"inputs": {"prefix": [{"b64": "////"}]}}']),
    )


segments = st.one_of(st.sampled_from(["names", "", "..", "%2E%2E", "..%2F..%2Fetc", "names%00",
                                      "NAMES", "names:predict", "%", "%zz", "9" * 30]),
                     st.text(max_size=12))
paths = st.one_of(
    st.builds(lambda n, tail: f"/v1/models/{n}{tail}", segments, st.sampled_from(
        ["", ":predict", ":classify", ":regress", "/metadata", "/versions/1", "/versions/-1",
         "/versions/99999999999999999999999", "/versions/1:predict", "/labels/stable:predict",
         "/labels/x", "/versions/:predict", ":predict/extra", "/metadata:predict"])),
    st.builds(lambda a, b: f"/{a}/{b}", segments, segments),
    st.sampled_from(["/", "/v1", "/v1/", "/v1/models", "/v1/models/", "/v2/models/names",
                     "/v1/models/names?x=1", "//v1/models/names", "/v1/models/names#frag"]),
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"])


def send(server, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    status, payload, _ = send_typed(server, method, path, body)
    return status, payload


def send_typed(server, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) of one raw request."""
    quoted = urllib.parse.quote(path, safe="/:%?=&#")
    connection = httpclient.HTTPConnection("127.0.0.1", server.endpoints.rest_port, timeout=30)
    try:
        connection.request(method, quoted, body=body if method not in ("GET", "HEAD") else None,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()


def test_malformed_requests_never_get_a_5xx(server):
    @FUZZ
    @given(method=methods, path=paths, body=bodies())
    def check(method, path, body):
        status, payload, content_type = send_typed(server, method, path, body)
        assert status < 500, f"{method} {path} {body[:200]!r} -> {status} {payload[:300]!r}"
        if method == "HEAD":
            return
        if status < 400 and not content_type.startswith("application/json"):
            assert method == "GET", (method, path, content_type)  # the playground's files
            return
        document = json.loads(payload)
        if status >= 400:
            assert isinstance(document.get("error"), str) and document["error"], document

    check()
    status, body = http("POST", server.rest + "/v1/models/names:predict",
                        SCORE_REQUEST)
    assert status == 200 and len(body["outputs"]["log_likelihood"]) == 1


def test_near_valid_predict_bodies_never_get_a_5xx(server):
    """All the examples spent on the predict route, where the parsing and inference are."""
    @FUZZ
    @given(document=near_valid_documents())
    def check(document):
        body = json.dumps(document).encode()
        status, payload = send(server, "POST", "/v1/models/names:predict", body)
        assert status < 500, f"{body[:300]!r} -> {status} {payload[:300]!r}"
        reply = json.loads(payload)
        assert ("error" in reply) == (status >= 400), reply

    check()


def test_odd_bodies_never_get_a_5xx(server):
    """Deep nesting, huge numbers and odd Unicode escapes on the routes that parse bodies."""
    @FUZZ
    @given(body=odd_bodies(), route=st.sampled_from([":predict", ":classify", ":regress"]))
    def check(body, route):
        status, payload = send(server, "POST", "/v1/models/names" + route, body)
        assert status < 500, f"{body[:200]!r} -> {status} {payload[:300]!r}"
        reply = json.loads(payload)
        assert ("error" in reply) == (status >= 400), reply

    check()


@pytest.mark.parametrize("template", [
    '{"signature_name": "score", "inputs": ["Rex"], "deep": %s}', '{"inputs": %s}',
    '{"instances": %s}', "%s", '{"examples": [{"x": %s}]}'])
@pytest.mark.parametrize("shape", ["array", "object"])
@pytest.mark.parametrize("well_formed", [True, False])
def test_nesting_up_to_the_body_limit_never_gets_a_5xx(server, template, shape, well_formed):
    """Bodies nested as deep as the body limit allows (about half a million levels): a
    well-formed one is handled (a score request with a deep ignored key answers 200), a
    malformed one is a 400 naming the parse error; never a 5xx, and the server stays up."""
    limit = server.core.limits.max_request_bytes
    unit_open, unit_close = ("[", "]") if shape == "array" else ('{"k":', "}")
    depth = (limit - len(template) - 8) // (len(unit_open) + len(unit_close))
    closing = unit_close * (depth if well_formed else depth - 1)
    body = (template % (unit_open * depth + "1" + closing)).encode()
    assert len(body) <= limit
    route = ":regress" if "examples" in template else ":predict"
    status, payload = send(server, "POST", "/v1/models/names" + route, body)
    reply = json.loads(payload)
    assert status < 500, reply
    if not well_formed:
        assert status == 400 and reply["error"].startswith("JSON Parse error"), reply
    elif template.startswith('{"signature_name": "score"'):
        assert status == 200 and len(reply["outputs"]["log_likelihood"]) == 1, reply
    else:
        assert status == 400 and reply["error"], reply
    healthy, _ = http("POST", server.rest + "/v1/models/names:predict",
                      SCORE_REQUEST)
    assert healthy == 200
