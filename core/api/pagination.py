"""The one cursor pagination and filter chain of the list APIs (STYLE.md: API plumbing has one home).

A list view validates its query string with a serializer, narrows its scoped queryset with
`filter_by` (query parameter → ORM lookup, applied only when given), and answers one page with
`paginated`. Cursor pagination: stable under inserts, and `?limit=` up to `max_page_size`.

Every paging number a client sends is bounded here (issue 18: `?offset=9223372036854775808` was
a 500 "bigint out of range"): MAX_OFFSET for the original's offset paging, MAX_PAGE_NUMBER for its
page numbers, and a cursor whose position the database cannot compare is 400 INVALID_PARAMETER."""

from collections.abc import Callable, Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, transaction
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import InvalidParameter

MAX_PAGE_SIZE = 1000
MAX_OFFSET = 10_000_000  # deeper than any list a person pages through: filter instead
MAX_PAGE_NUMBER = 100_000


def offset_field(**kwargs) -> serializers.IntegerField:
    """The query parameter `offset` of the original's offset-paged lists (0 … MAX_OFFSET)."""
    return serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0, **kwargs)


def page_number_field(**kwargs) -> serializers.IntegerField:
    """The query parameter `page` of the original's page-numbered lists (1 … MAX_PAGE_NUMBER)."""
    return serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_NUMBER, default=1, **kwargs)


class _PageIn(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, allow_blank=True, help_text="The opaque `next` / `previous` position of an earlier page."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, help_text="Rows per page.")


PAGE_PARAMETERS = [_PageIn]  # extend_schema(parameters=[FilterIn, *PAGE_PARAMETERS]): the two query parameters


class Cursor(CursorPagination):
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def __init__(self, ordering: tuple[str, ...], page_size: int = 100):
        self.ordering = ordering
        self.page_size = page_size

    def paginate_queryset(self, queryset, request, view=None):
        """A well-signed cursor can still carry a position the column cannot hold (a forged or
        fuzzed `p=`): 400, and the savepoint keeps the request's transaction usable. `limit` outside
        1 … MAX_PAGE_SIZE is 400 too, as the schema says (DRF alone would quietly use another size)."""
        if request.query_params.get(self.page_size_query_param):  # `?limit=` is absent, as every empty parameter
            page_in = _PageIn(data={"limit": request.query_params[self.page_size_query_param]})
            if not page_in.is_valid():
                raise InvalidParameter("invalid limit", fields=page_in.errors)
        if not request.query_params.get(self.cursor_query_param):
            return super().paginate_queryset(queryset, request, view)  # a first page: no position to check
        try:
            with transaction.atomic():
                return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, DataError, ValueError, TypeError, OverflowError) as exc:
            raise InvalidParameter("invalid cursor", fields={"cursor": ["invalid cursor"]}) from exc


class PageSchema(Cursor):
    """`pagination_class` of a list view answering with `paginated` (issue 18: the lists were
    declared as bare arrays): drf-spectacular then declares its `X(many=True)` response as the
    page {next, previous, results}. The query parameters come from PAGE_PARAMETERS (bounded)."""

    def __init__(self, ordering: tuple[str, ...] = ("-pk",), page_size: int = 100):
        super().__init__(ordering, page_size)

    def get_schema_operation_parameters(self, view):
        return []


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
