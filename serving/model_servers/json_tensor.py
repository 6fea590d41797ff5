"""TF Serving's REST tensor encoding (util/json_tensor.cc): JSON bodies <-> numpy arrays.

Row format: `{"instances": [...]}` -> `{"predictions": [...]}`; columnar: `{"inputs": ...}` ->
`{"outputs": ...}`. Strings travel as UTF-8 or `{"b64": "..."}`; NaN/Infinity as bare tokens.
Error messages follow json_tensor.cc so clients see what the real server would say.
"""

from __future__ import annotations

import base64
import binascii
import json

import grpc
import numpy as np

from serving.errors import ServingError
from serving.model_servers import json_parse

ROW, COLUMNAR = "row", "columnar"
_MAX_ECHO = 200  # characters of a JSON value repeated in an error message

# DataTypeString() of the dtypes a signature may use.
DTYPE_NAMES = {
    np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64", np.dtype(np.bool_): "bool", np.dtype(object): "string",
}
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_FLOAT_TYPES = {"float": np.float32, "double": np.float64}
MAX_TENSOR_RANK = 32  # numpy's limit on dimensions (TensorFlow's own is 254)
_ECHO_DEPTH = 32  # nesting shown in an echoed value before "..."


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _shallow(value, depth: int = 0):
    """The value with containers deeper than _ECHO_DEPTH replaced by "..." (bounded recursion)."""
    if depth >= _ECHO_DEPTH and isinstance(value, (list, dict)):
        return "..."
    if isinstance(value, list):
        return [_shallow(item, depth + 1) for item in value[:_MAX_ECHO]]
    if isinstance(value, dict):
        return {key: _shallow(item, depth + 1) for key, item in list(value.items())[:_MAX_ECHO]}
    return value


def value_to_string(value) -> str:
    """A compact JSON rendering of a value, cut short for error messages."""
    text = json.dumps(_shallow(value), separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "..."


def _type_string(value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    return {str: "String", list: "Array", dict: "Object"}[type(value)]


def _type_error(value, dtype: str) -> ServingError:
    return _invalid(f"JSON Value: {value_to_string(value)} Type: {_type_string(value)} "
                    f"is not of expected type: {dtype}")


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _convert_leaf(value, dtype: str):
    """One JSON leaf as a Python value of `dtype`, or TF Serving's error."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype == "string":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict):
            if not _is_b64(value):
                raise _invalid(f"JSON Value: {value_to_string(value)} not formatted correctly "
                               "for base64 data")
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise _invalid("Unable to base64 decode") from None
        raise _type_error(value, dtype)
    if dtype in _FLOAT_TYPES:
        if not is_number:
            raise _type_error(value, dtype)
        # As TF Serving (g3doc/api_rest.md, "Floating Point Precision"): a number is rounded
        # to the nearest float; beyond the float range it becomes +/-Infinity.
        with np.errstate(over="ignore"):
            return _FLOAT_TYPES[dtype](float(value))
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if not (is_number and isinstance(value, int) and low <= value <= high):
            raise _type_error(value, dtype)
        return value
    if dtype == "bool":
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                       f"Conversion of JSON Value: {value_to_string(value)} to type: {dtype}")


def _dense_shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level: int, shape: list[int], dtype: str, out: list) -> None:
    """Appends the leaves of a dense value to `out` (recursion depth <= len(shape))."""
    if not isinstance(value, list):
        if level != len(shape):
            raise _invalid(f"JSON Value: {value_to_string(value)} found at incorrect level: "
                           f"{level + 1} in the JSON DOM. Expected at level: {len(shape)}")
        if isinstance(value, dict) and dtype != "string":
            raise _type_error(value, dtype)
        out.append(_convert_leaf(value, dtype))
        return
    if level >= len(shape):
        raise _invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise _invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} "
                       f"expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def to_array(value, dtype: np.dtype) -> np.ndarray:
    """A (nested) JSON value as a dense array of the signature's dtype."""
    shape = _dense_shape(value)
    if len(shape) > MAX_TENSOR_RANK:
        raise _invalid(f"JSON value nests lists {len(shape)} deep; this server takes tensors "
                       f"of at most {MAX_TENSOR_RANK} dimensions")
    flat: list = []
    _fill(value, 0, shape, DTYPE_NAMES[np.dtype(dtype)], flat)
    return np.array(flat, dtype=dtype).reshape(shape)


def parse_body(body: bytes) -> dict:
    """The request document: a JSON object (NaN and Infinity allowed)."""
    try:
        document = json_parse.loads(body)
    except json_parse.JsonParseError as error:
        raise _invalid(f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise _invalid(f"JSON Value: {value_to_string(document)} Is not object")
    return document


def signature_name(document: dict) -> str:
    """The optional `signature_name`; empty means serving_default."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise _invalid(f"JSON Value: {value_to_string(document)} not formatted correctly. "
                       "'signature_name' key must be a string value.")
    return name


def _shape_mismatch(expected: list[int], got: list[int]) -> ServingError:
    expected_size, got_size = int(np.prod(expected)), int(np.prod(got))
    if expected_size != got_size:
        return _invalid(f"Expecting tensor size: {expected_size} but got: {got_size}")
    return _invalid(f"Expecting shape [{','.join(map(str, expected))}] but got: "
                    f"[{','.join(map(str, got))}]")


def _from_instances(instances: list, specs: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    def is_object(value) -> bool:
        return isinstance(value, dict) and not _is_b64(value)

    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise _invalid("instances is a plain list, but expecting list of objects as multiple "
                       "input tensors required as per tensorinfo_map")
    named = is_object(instances[0])
    columns: dict[str, list] = {name: [] for name in specs}
    shapes: dict[str, list[int]] = {}
    for index, item in enumerate(instances):
        if named != is_object(item):
            kind = "object but got list" if named else "value/list but got object"
            raise _invalid(f"Expecting {kind} at item {index} of input list")
        pairs = item.items() if named else [(next(iter(specs)), item)]
        for name, value in pairs:
            where = f"{index} key: {name}" if named else f"{index}"
            try:
                if name not in specs:
                    raise _invalid(f"JSON object: does not have named input: {name}")
                array = to_array(value, specs[name])
                expected = shapes.setdefault(name, list(array.shape))
                if list(array.shape) != expected:
                    raise _shape_mismatch(expected, list(array.shape))
            except ServingError as error:
                raise _invalid(f"Failed to process element: {where} of 'instances' list. "
                               f"Error: INVALID_ARGUMENT: {error.message}") from None
            columns[name].append(array)
        if named and set(item) != set(specs):
            raise _invalid(f"Failed to process element: {index} of 'instances' list. "
                           f"JSON object: {value_to_string(item)} must only have keys: "
                           f"{','.join(sorted(specs))}")
    return {name: np.stack(values) for name, values in columns.items()}


def _from_inputs(inputs, specs: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(specs) > 1:
            raise _invalid("inputs is a plain value/list, but expecting an object as multiple "
                           "input tensors required as per tensorinfo_map")
        name = next(iter(specs))
        return {name: to_array(inputs, specs[name])}
    tensors = {}
    for name in sorted(specs):
        if name not in inputs:
            raise _invalid(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = to_array(inputs[name], specs[name])
    return tensors


def request_tensors(document: dict, specs: dict[str, np.dtype]) -> tuple[dict, str]:
    """(input arrays, ROW or COLUMNAR) from a predict body, given the signature's input dtypes."""
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise _invalid(f"JSON Value: {value_to_string(document)} Not formatted correctly expecting "
                       "only one of 'inputs' or 'instances' keys to exist ")
    if has_instances:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise _invalid(f"JSON Value: {value_to_string(document)} Excepting 'instances' to be "
                           "an list/array")
        if not instances:
            raise _invalid(f"JSON Value: {value_to_string(document)} No values in 'instances' "
                           "array")
        return _from_instances(instances, specs), ROW
    if has_inputs:
        return _from_inputs(document["inputs"], specs), COLUMNAR
    raise _invalid("Missing 'inputs' or 'instances' key")


class Number(str):
    """A number already written as JSON text (dumps writes it as it is)."""


def float32_text(value) -> Number:
    """A float32 as TF Serving writes it: `%g` (6 digits) when that reads back as the same
    float32, else `%.9g`; an integral result keeps a `.0`; NaN and +/-Infinity as tokens."""
    value = np.float32(value)
    if not np.isfinite(value):
        return Number("NaN" if np.isnan(value) else "Infinity" if value > 0 else "-Infinity")
    text = f"{float(value):g}"
    if np.float32(float(text)) != value:
        text = f"{float(value):.9g}"
    if text.lstrip("-").isdigit():
        text += ".0"
    return Number(text)


def _json_value(value, as_bytes: bool, is_float32: bool):
    if isinstance(value, list):
        return [_json_value(item, as_bytes, is_float32) for item in value]
    if isinstance(value, bytes):
        if as_bytes:
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", errors="replace")
    if is_float32:
        return float32_text(value)
    return value


def _json_tensor(name: str, array: np.ndarray):
    """Nested lists (or a scalar) of JSON values; `*_bytes` string outputs as b64 objects."""
    return _json_value(array.tolist(), name.endswith("_bytes"), array.dtype == np.float32)


def response_body(outputs: dict[str, np.ndarray], form: str) -> dict:
    """`{"predictions": ...}` (row) or `{"outputs": ...}` (columnar) from output arrays."""
    names = sorted(outputs)
    if form == COLUMNAR:
        if len(names) == 1:
            return {"outputs": _json_tensor(names[0], outputs[names[0]])}
        return {"outputs": {name: _json_tensor(name, outputs[name]) for name in names}}
    batch = None
    for name in names:
        array = outputs[name]
        if array.ndim == 0:
            raise _invalid(f"Tensor name: {name} has no shape information ")
        if array.shape[0] < 1:
            raise _invalid(f"Tensor name: {name} has invalid batch size: {array.shape[0]}")
        if batch is not None and array.shape[0] != batch:
            raise _invalid(f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                           f"expecting: {batch}")
        batch = array.shape[0]
    columns = {name: _json_tensor(name, outputs[name]) for name in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{name: columns[name][row] for name in names} for row in range(batch)]}


def _encode(value, out: list) -> None:
    if isinstance(value, Number):
        out.append(value)
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            out.append("," if index else "")
            out.append(json.dumps(str(key), ensure_ascii=False) + ":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            _encode(item, out)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def dumps(document: dict) -> bytes:
    """The response bytes (NaN/Infinity as bare tokens, UTF-8 kept, float32 as TF Serving)."""
    out: list[str] = []
    _encode(document, out)
    return "".join(out).encode("utf-8", errors="replace")
