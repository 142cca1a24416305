"""The one cursor pagination and filter chain of the list APIs (STYLE.md: API plumbing has one home).

A list view validates its query string with a serializer, narrows its scoped queryset with
`filter_by` (query parameter → ORM lookup, applied only when given), and answers one page with
`paginated`. Cursor pagination: stable under inserts, and `?limit=` up to `max_page_size`."""

from collections.abc import Callable, Mapping

from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

MAX_PAGE_SIZE = 1000


class Cursor(CursorPagination):
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def __init__(self, ordering: tuple[str, ...], page_size: int = 100):
        self.ordering = ordering
        self.page_size = page_size


def filter_by(qs: QuerySet, params: Mapping, lookups: Mapping[str, str]) -> QuerySet:
    """Apply `lookups[name]=params[name]` for every name the caller gave; the rest are ignored."""
    given = {lookup: params[name] for name, lookup in lookups.items() if name in params}
    return qs.filter(**given) if given else qs


def paginate(request: Request, qs: QuerySet, *, ordering: tuple[str, ...], page_size: int = 100):
    """(rows of this page, the paginator): for views that wrap the page in their own body."""
    paginator = Cursor(ordering, page_size)
    return paginator.paginate_queryset(qs, request), paginator


def paginated(
    request: Request, qs: QuerySet, serialize: Callable, *, ordering: tuple[str, ...], page_size: int = 100
) -> Response:
    """One page as {"next", "previous", "results"}; `serialize(rows)` turns the rows into data."""
    page, paginator = paginate(request, qs, ordering=ordering, page_size=page_size)
    return paginator.get_paginated_response(serialize(page))
