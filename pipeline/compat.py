"""The one place for API differences between the two stacks (docs/SETUP.md).

classic: TF 2.16, TFX 1.16, protobuf 3.20; current: TF 2.21, TFX 1.21, protobuf 6.
"""

from __future__ import annotations

from typing import Any


def message_class(descriptor: Any) -> type:
    """The generated message class for a protobuf message descriptor.

    protobuf 4.21+ has `message_factory.GetMessageClass`; 3.20 (classic) has only
    `MessageFactory.GetPrototype`, which protobuf 5 removed.
    """
    from google.protobuf import message_factory

    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)
