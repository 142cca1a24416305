"""NUL characters are dropped from everything the APIs read, as core.wire does for the collector's
bodies (issue 18, `make fuzz`: `"command_type": "set_fan\\u0000"` or `?action=%00` was a 400 "Null
characters are not allowed" to a schema-valid request). PostgreSQL's text and jsonb cannot hold a
NUL, so no stored value ever had one: dropping it changes no lookup. docs/SECURITY.md "Fuzzing".

- `JSONParser`: DRF's JSON parser (DEFAULT_PARSER_CLASSES) with NULs dropped from strings and keys;
- `NulFreeQueryMiddleware`: the query string with NULs (`%00`) dropped from names and values, and a
  value of whitespace alone read as empty (absent)."""

from django.http import QueryDict
from rest_framework import parsers

from core.wire import strip_nul


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return strip_nul(super().parse(stream, media_type, parser_context))


class NulFreeQueryMiddleware:
    """Before any view reads request.GET: NULs (only ever percent-encoded, `%00`) dropped from names
    and values, and a value of whitespace alone read as empty (DRF trims a string, then refused the
    blank left: `?miner_id=%09` was a 400 "may not be blank"), which every list reads as absent."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("QUERY_STRING"):
            lists = list(request.GET.lists())
            cleaned = [(strip_nul(name), [_value(v) for v in values]) for name, values in lists]
            if cleaned != lists:
                query = QueryDict(mutable=True)
                for name, values in cleaned:
                    query.setlist(name, values)
                query._mutable = False
                request.GET = query
        return self.get_response(request)


def _value(value: str) -> str:
    value = strip_nul(value)
    return "" if value.isspace() else value
