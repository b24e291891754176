"""Keeping secrets out of error messages and logs.

Two layers: the exact credential values pllm holds are replaced wherever they appear, and
anything shaped like a provider key or a bearer token is masked, since a provider's message may
echo a key pllm never saw (a client's own, a rotated one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pllm.errors import ApiError

__all__ = ["RedactingFilter", "redact", "redact_error"]

_KEYLIKE = re.compile(
    r"(?:sk|pk|rk|gsk|xai|sk-ant|sk-proj|sk-pllm)-[A-Za-z0-9_\-]{8,}"  # OpenAI/Anthropic/Groq...
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?<=[Bb]earer )[A-Za-z0-9._\-~+/]{12,}=*"  # bearer tokens
    r"|(?<=[?&]key=)[^&\s\"']+"  # keys in URL queries
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[REDACTED]")
    return _KEYLIKE.sub(_mask, text)


def _mask(m: re.Match[str]) -> str:
    s = m.group(0)
    return s[:4] + "…[REDACTED]" if len(s) > 12 else "[REDACTED]"


def redact_error(error: ApiError, secrets: Iterable[str]) -> ApiError:
    """The same error with its message cleaned (in place: it is about to be raised anyway)."""
    error.message = redact(error.message, secrets)
    error.args = (error.message,)
    return error


class RedactingFilter(logging.Filter):
    """Defence in depth for log records: no configured secret reaches a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
