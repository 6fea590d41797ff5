"""Request JSON as TF Serving's rapidjson reads it: any nesting depth, rapidjson's error texts.

Follows the parsing step of util/json_tensor.cc (rapidjson's Document::Parse and its messages).

Shallow documents go through the C `json` module; deep ones (which would exhaust Python's
recursion limit) and malformed ones go through an iterative parser that keeps its state on a
heap stack, as rapidjson's kParseIterativeFlag does, and names the error as rapidjson does
("Invalid value.", "Missing a comma or ']' after an array element.", ...). NaN, Infinity and
-Infinity are accepted (kParseNanAndInfFlag). Integers beyond 64 bits become doubles; numbers
beyond the double range are "Number too big to be stored in double.". A lone UTF-16 surrogate
escape is "The surrogate pair in string is invalid.".
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

FAST_PATH_MAX_DEPTH = 200  # well under Python's recursion limit, with room for callers

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BAD_FRACTION = re.compile(r"-?(?:0|[1-9][0-9]*)\.(?![0-9])")
_BAD_EXPONENT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[eE][+-]?(?![0-9])")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}
_LITERALS = (("true", True), ("false", False), ("null", None), ("NaN", math.nan),
             ("Infinity", math.inf), ("-Infinity", -math.inf), ("Inf", math.inf),
             ("-Inf", -math.inf))
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class JsonParseError(ValueError):
    """A document rapidjson would refuse: its message and the offset where parsing stopped."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} at offset: {offset}")
        self.message, self.offset = message, offset


class _TooBig(Exception):
    pass


def _number_from_int_text(text: str):
    value = int(text) if len(text) <= 21 else None
    if value is not None and -(2**63) <= value < 2**64:
        return value
    return _number_from_float_text(text)  # rapidjson stores a wider integer as a double


def _number_from_float_text(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _TooBig(text)
    return value


def max_depth_bound(body: bytes) -> int:
    """An upper bound on the nesting depth (brackets inside strings count too)."""
    data = np.frombuffer(body, dtype=np.uint8)
    steps = (np.isin(data, (0x5B, 0x7B)).astype(np.int32)
             - np.isin(data, (0x5D, 0x7D)).astype(np.int32))
    return int(np.cumsum(steps).max(initial=0))


def loads(body: bytes):
    """The JSON value of a request body, or JsonParseError with rapidjson's message."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonParseError("Invalid encoding in string.", error.start) from None
    if (max_depth_bound(body) <= FAST_PATH_MAX_DEPTH
            and not _SURROGATE_ESCAPE.search(body)):
        try:
            return json.loads(text, parse_int=_number_from_int_text,
                              parse_float=_number_from_float_text)
        except (ValueError, _TooBig, RecursionError):
            pass  # the iterative parser names the error
    return _Parser(text).document()


class _Parser:
    """An iterative (explicit-stack) JSON parser."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def fail(self, message: str, offset: int | None = None) -> JsonParseError:
        return JsonParseError(message, self.pos if offset is None else offset)

    def skip(self) -> None:
        self.pos = _WS.match(self.text, self.pos).end()

    def document(self):
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("The document is empty.")
        value = self.value()
        self.skip()
        if self.pos < len(self.text):
            raise self.fail("The document root must not be followed by other values.")
        return value

    def value(self):
        # stack entries: [container, pending key]; a finished scalar or container is "added"
        stack: list[list] = []
        while True:
            self.skip()
            char = self.text[self.pos:self.pos + 1]
            if char == "[":
                self.pos += 1
                self.skip()
                if self.text.startswith("]", self.pos):
                    self.pos += 1
                    result = []
                else:
                    stack.append([[], None])
                    continue
            elif char == "{":
                self.pos += 1
                self.skip()
                if self.text.startswith("}", self.pos):
                    self.pos += 1
                    result = {}
                else:
                    stack.append([{}, self.member_name()])
                    continue
            else:
                result = self.scalar()
            # close every container this value completes
            while True:
                if not stack:
                    return result
                container, key = stack[-1]
                self.skip()
                char = self.text[self.pos:self.pos + 1]
                if isinstance(container, list):
                    container.append(result)
                    if char == ",":
                        self.pos += 1
                        break
                    if char != "]":
                        raise self.fail("Missing a comma or ']' after an array element.")
                else:
                    container[key] = result
                    if char == ",":
                        self.pos += 1
                        self.skip()
                        stack[-1][1] = self.member_name()
                        break
                    if char != "}":
                        raise self.fail("Missing a comma or '}' after an object member.")
                self.pos += 1
                stack.pop()
                result = container

    def member_name(self) -> str:
        if not self.text.startswith('"', self.pos):
            raise self.fail("Missing a name for object member.")
        name = self.string()
        self.skip()
        if not self.text.startswith(":", self.pos):
            raise self.fail("Missing a colon after a name of object member.")
        self.pos += 1
        return name

    def scalar(self):
        text, pos = self.text, self.pos
        if text.startswith('"', pos):
            return self.string()
        for literal, value in _LITERALS:
            if text.startswith(literal, pos):
                self.pos += len(literal)
                return value
        match = _NUMBER.match(text, pos)
        if not match:
            raise self.fail("Invalid value.")
        if _BAD_FRACTION.match(text, pos):
            raise self.fail("Miss fraction part in number.", _BAD_FRACTION.match(text, pos).end())
        if _BAD_EXPONENT.match(text, pos):
            raise self.fail("Miss exponent in number.", _BAD_EXPONENT.match(text, pos).end())
        self.pos = match.end()
        try:
            if match.group(1) or match.group(2):
                return _number_from_float_text(match.group())
            return _number_from_int_text(match.group())
        except _TooBig:
            raise self.fail("Number too big to be stored in double.", pos) from None

    def string(self) -> str:
        text = self.text
        start = self.pos
        self.pos += 1
        parts = []
        while True:
            run = _STRING_RUN.match(text, self.pos)
            parts.append(run.group())
            self.pos = run.end()
            if self.pos >= len(text):
                raise self.fail("Missing a closing quotation mark in string.", start)
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(parts)
            if char != "\\":
                raise self.fail("Invalid encoding in string.")  # a raw control character
            escape = text[self.pos + 1:self.pos + 2]
            if escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                self.pos += 2
            elif escape == "u":
                parts.append(self.unicode_escape())
            else:
                raise self.fail("Invalid escape character in string.", self.pos + 1)

    def hex4(self) -> int:
        digits = self.text[self.pos + 2:self.pos + 6]
        if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("Incorrect hex digit after \\u escape in string.", self.pos + 2)
        self.pos += 6
        return int(digits, 16)

    def unicode_escape(self) -> str:
        first = self.hex4()
        if 0xDC00 <= first <= 0xDFFF:
            raise self.fail("The surrogate pair in string is invalid.")
        if not 0xD800 <= first <= 0xDBFF:
            return chr(first)
        if not self.text.startswith("\\u", self.pos):
            raise self.fail("The surrogate pair in string is invalid.")
        second = self.hex4()
        if not 0xDC00 <= second <= 0xDFFF:
            raise self.fail("The surrogate pair in string is invalid.")
        return chr(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
