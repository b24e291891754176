"""One exception tree for pllm; every error that can reach a client knows how to render itself.

    PllmError                      base; never raised directly
    ├── ConfigError                config file problems (carries every Issue found, not just one)
    ├── DeploymentError            a deployment's settings do not suit its provider
    └── ApiError                   anything answered to an HTTP client, in OpenAI's error shape
        ├── InvalidRequest         400 invalid_request_error (malformed JSON, missing fields)
        │   ├── UnsupportedParam   400 a provider cannot take a parameter (and drop_params is off)
        │   ├── InvalidRecord      400 a value a key, budget or limit cannot take
        │   └── RequestTooLarge    413
        ├── AuthenticationFailed   401 invalid_api_key
        ├── PermissionDenied       403
        ├── RateLimited            429 a deployment's or a caller's rpm/tpm limit is reached
        ├── BudgetExceeded         429 insufficient_quota: a budget cannot cover the request
        ├── ModelNotFound          404 model_not_found
        ├── RouteNotFound          404 (unknown path)
        ├── RecordNotFound         404 no key, budget or limit with that id
        ├── StoreError             503 the database could not do what was asked
        │   └── StoreClosed
        ├── NotImplementedByPllm   501 a recognised provider or feature this build does not serve
        └── UpstreamError          the provider failed or answered with an error
            ├── ProviderError      the provider answered 4xx/5xx (status kept for 4xx)
            ├── UpstreamConnectError   502 could not reach the provider
            └── UpstreamTimeout    504

`retryable` says whether the router may try another deployment; `retry_after` carries the
provider's `retry-after` (seconds) so it can be preserved for the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "ApiError",
    "AuthenticationFailed",
    "BudgetExceeded",
    "ConfigError",
    "DeploymentError",
    "InvalidRecord",
    "InvalidRequest",
    "Issue",
    "ModelNotFound",
    "NotImplementedByPllm",
    "PermissionDenied",
    "PllmError",
    "ProviderError",
    "RateLimited",
    "RecordNotFound",
    "RequestTooLarge",
    "RouteNotFound",
    "StoreClosed",
    "StoreError",
    "UnsupportedParam",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamTimeout",
]


class PllmError(Exception):
    """Base of every error pllm raises on purpose."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a config file, located as precisely as the source allows."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    severity: str = "error"  # "error" | "warning"

    def location(self) -> str:
        parts = [self.file or "<config>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location()
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


class ConfigError(PllmError):
    """The configuration is invalid; `issues` lists every error (and warnings) found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        errors = [i for i in issues if i.severity == "error"]
        super().__init__("\n".join(str(i) for i in errors) or "invalid configuration")


class ApiError(PllmError):
    """An error answered to an API client as `{"error": {message, type, param, code}}`."""

    status: int = 500
    error_type: str = "api_error"
    code: str | None = None
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        if code is not None:
            self.code = code
        self.param = param
        self.retry_after = retry_after
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body_bytes(self) -> bytes:
        return orjson.dumps(self.body())

    def response_headers(self) -> dict[str, str]:
        out = dict(self.headers)
        if self.retry_after is not None:
            # Integer seconds, as OpenAI sends it; never round a pause down to zero.
            secs = self.retry_after
            out["retry-after"] = str(max(1, int(secs + 0.999)))
        return out


class InvalidRequest(ApiError):
    status = 400
    error_type = "invalid_request_error"


class UnsupportedParam(InvalidRequest):
    code = "unsupported_parameter"


class RequestTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class AuthenticationFailed(ApiError):
    status = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class RateLimited(ApiError):
    """The gateway itself refuses for now: every deployment is at its rpm/tpm limit."""

    status = 429
    error_type = "requests"
    code = "rate_limit_exceeded"
    retryable = True


class BudgetExceeded(ApiError):
    """A budget (key, user, team or global) cannot cover the request's maximum cost. Retrying
    will not help until the period resets, so clients are told not to (`x-should-retry`)."""

    status = 429
    error_type = "insufficient_quota"
    code = "budget_exceeded"

    def response_headers(self) -> dict[str, str]:
        out = super().response_headers()
        out["x-should-retry"] = "false"
        return out


class PermissionDenied(ApiError):
    status = 403
    error_type = "permission_error"
    code = "model_not_allowed"


class ModelNotFound(ApiError):
    status = 404
    error_type = "invalid_request_error"
    code = "model_not_found"


class InvalidRecord(InvalidRequest):
    """A value a key, budget or limit cannot take (negative budget, unknown role, ...)."""

    code = "invalid_value"


class RecordNotFound(ApiError):
    """No key, budget or limit with that id."""

    status = 404
    error_type = "invalid_request_error"
    code = "not_found"


class StoreError(ApiError):
    """The database could not do what was asked (closed, writer stopped, write failed)."""

    status = 503
    error_type = "api_error"
    code = "store_unavailable"


class StoreClosed(StoreError):
    code = "store_closed"


class RouteNotFound(ApiError):
    status = 404
    error_type = "invalid_request_error"
    code = "unknown_url"


class NotImplementedByPllm(ApiError):
    status = 501
    error_type = "api_error"
    code = "not_implemented"


class UpstreamError(ApiError):
    """The provider could not produce an answer."""

    status = 502
    error_type = "api_error"
    code: str | None = "upstream_error"
    retryable = True


class ProviderError(UpstreamError):
    """The provider answered with an error status; `upstream_status` is what it sent."""

    code = None

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int,
        provider: str,
        status: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status if status is not None else client_status(upstream_status),
            error_type=error_type,
            code=code,
            param=param,
            retry_after=retry_after,
            headers=headers,
        )
        self.upstream_status = upstream_status
        self.provider = provider
        self.retryable = is_retryable_status(upstream_status) if retryable is None else retryable


class UpstreamConnectError(UpstreamError):
    status = 502
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout"
    code = "upstream_timeout"


_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def is_retryable_status(status: int) -> bool:
    """Statuses worth another attempt on another deployment (OpenAI's SDK retries the same set)."""
    return status in _RETRYABLE


def client_status(upstream_status: int) -> int:
    """The status a client sees for an upstream status.

    4xx keep their status so SDKs raise the same exception class they would against the provider
    directly; 503 (and Anthropic's 529 "overloaded") mean "unavailable"; 504 stays a timeout;
    every other 5xx is the gateway's bad upstream, 502.
    """
    if 400 <= upstream_status < 500:
        return upstream_status
    if upstream_status in (503, 529):
        return 503
    if upstream_status == 504:
        return 504
    return 502


class DeploymentError(PllmError):
    """A deployment's settings cannot work with its provider (found when preparing it)."""
