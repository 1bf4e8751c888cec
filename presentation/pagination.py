from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """Limit/offset pages with a ceiling, so ``?limit=`` cannot ask for everything at once."""

    default_limit = 100
    max_limit = 1000
