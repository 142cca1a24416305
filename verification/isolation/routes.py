"""Every URL route of the project, with its parameters (for the isolation checker)."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# --- routes ----------------------------------------------------------------------------------------

_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
_PLACEHOLDER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern, with its full route as Django reports it in ResolverMatch.route."""

    raw: str
    name: str
    callback: Callable = field(compare=False)

    @property
    def path(self) -> str:
        """Readable form: '/admin/<app_label>/' for the regex '^(?P<app_label>auth|…)/$'."""
        text = _GROUP.sub(lambda m: f"<{m.group(1)}>", self.raw)
        return "/" + text.replace("^", "").replace("$", "").replace("\\", "")

    def fill(self, **values) -> str:
        def sub(m):
            if m.group(1) not in values:
                raise KeyError(f"{self.path}: no value for <{m.group(1)}>")
            return str(values[m.group(1)])

        return _PLACEHOLDER.sub(sub, self.path)

    def methods(self) -> tuple[str, ...]:
        """The methods a class-based view implements; GET for a function view."""
        view_class = getattr(self.callback, "view_class", None)
        if view_class is None:
            return ("GET",)
        names = getattr(view_class, "http_method_names", ())
        return tuple(m for m in ("GET", *WRITE_METHODS) if m.lower() in names and hasattr(view_class, m.lower()))


def route_list() -> list[Route]:
    """Every leaf pattern of the URLconf (admin's generated URLs and allauth's included)."""

    def walk(patterns, prefix: str, namespace: str) -> Iterator[Route]:
        for p in patterns:
            raw = prefix + str(p.pattern).removeprefix("^") if prefix else str(p.pattern)
            if isinstance(p, URLResolver):
                ns = ":".join(filter(None, [namespace, p.namespace]))
                yield from walk(p.url_patterns, raw, ns)
            elif isinstance(p, URLPattern):
                name = ":".join(filter(None, [namespace, p.name])) if p.name else ""
                yield Route(raw=raw, name=name, callback=p.callback)

    return list(walk(get_resolver().url_patterns, "", ""))
