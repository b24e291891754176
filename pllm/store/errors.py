"""The store's errors. They are `ApiError`s so the admin API can answer them as they are (404,
400, 503) and the CLI prints their message and exits 1.

They live here rather than in `pllm/errors.py` only because this part was written alongside
others editing that file; moving them there changes no behaviour.
"""

from __future__ import annotations

from pllm.errors import ApiError, InvalidRequest

__all__ = ["InvalidRecord", "RecordNotFound", "StoreClosed", "StoreError"]


class StoreError(ApiError):
    """The database could not do what was asked (closed, writer stopped, write failed)."""

    status = 503
    error_type = "api_error"
    code = "store_unavailable"


class StoreClosed(StoreError):
    code = "store_closed"


class RecordNotFound(ApiError):
    """No key, budget or limit with that id."""

    status = 404
    error_type = "invalid_request_error"
    code = "not_found"


class InvalidRecord(InvalidRequest):
    """A value a key, budget or limit cannot take (negative budget, unknown role, ...)."""

    code = "invalid_value"
