"""A TensorFlow graph error in one line: its message without TF's node trail.

The one home of this reduction, for `namegen serve` (servable.py puts it in the error answer)
and the CLI (`namegen generate` runs the same signatures in-process). A failed
tf.debugging.Assert raised by the export's signatures reads, as TF raises it,
"Graph execution error: Detected at node ... assertion failed: [prefix has ...] [é] [[{{node
...}}]]"; what is left is the Assert's message and its data: "prefix has ... [é]".
"""

from __future__ import annotations

import re

# Lines of TF's trail: the header, where the node was defined, and the node list.
_TRAIL_LINES = ("Graph execution error", "Detected at node", "<stack traces", "File ", "[[")
_ASSERTION = re.compile(r"assertion failed: \[(.*?)\](?: \[(.*)\])?$", re.S)


def message_and_data(message: str) -> tuple[str, str | None]:
    """The message without the trail, split into an Assert's message and its data (or None)."""
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.lstrip().startswith(_TRAIL_LINES)]
    text = " ".join(lines)
    text = re.sub(r"\s*\[\[\{\{node [^]]*\]\]", "", text)
    text = re.sub(r"\s*\[Op:[^]]*\]$", "", text)
    text = re.sub(r" \[Condition x == y did not hold.*", "", text, flags=re.S)
    match = _ASSERTION.search(text)
    if not match:
        return text, None
    return match.group(1), match.group(2)


def one_line(message: str, bracket_data: bool = True) -> str:
    """'prefix has characters outside ...: [é]' (the server), or without brackets (the CLI)."""
    text, data = message_and_data(message)
    if not data:
        return text
    return f"{text} [{data}]" if bracket_data else f"{text} {data}"
