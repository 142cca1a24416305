"""`command_type` as the OpenAPI schema states it: the names a route accepts, as an enum, so a
generated client offers them and the schema refuses what the server refuses (issue 18, fuzzing).
The check itself stays in the service (INVALID_PARAMS naming `command_type`)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from control.models import CommandType
from control.services.params import TYPE_ALIASES

#: this project's types and their aliases (control.services.params.command_type_normalize)
CREATE_NAMES = sorted({*CommandType.values, *TYPE_ALIASES})


@extend_schema_field({"type": "string", "enum": CREATE_NAMES})
class CommandTypeField(serializers.CharField):
    """A command type a creator names (SPEC §6.1): this project's or an alias."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)


def enum_command_type_field(names, **kwargs) -> serializers.CharField:
    """A CharField documented with its own enum of names (a route with its own vocabulary)."""

    @extend_schema_field({"type": "string", "enum": sorted(names)})
    class NamedCommandTypeField(CommandTypeField):
        pass

    return NamedCommandTypeField(**kwargs)
