"""Log setup for `pllm serve`: one handler on stderr, every record passed through the secret
redaction filter (configured keys never reach a log line, whatever a library logs)."""

from __future__ import annotations

import logging
import sys

from pllm.config.model import Settings
from pllm.redaction import RedactingFilter

__all__ = ["setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(settings: Settings, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter(settings.secrets()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
