from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Stable, index-backed pages whatever the table size (no OFFSET)."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
