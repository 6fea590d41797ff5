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


def message_to_dict(message: Any) -> dict:
    """`json_format.MessageToDict` with proto field names and fields at their default values
    printed (as TF Serving's REST API answers).

    protobuf 5.26 renamed `including_default_value_fields` (classic: 3.20) to
    `always_print_fields_with_no_presence` (current: 6).
    """
    import inspect

    from google.protobuf import json_format

    accepted = inspect.signature(json_format.MessageToDict).parameters
    defaults = ("always_print_fields_with_no_presence"
                if "always_print_fields_with_no_presence" in accepted
                else "including_default_value_fields")
    return json_format.MessageToDict(message, preserving_proto_field_name=True, **{defaults: True})
