"""Log setup for `pllm serve`, and the access log.

One handler on stderr, every record passed through the secret redaction filter (configured keys
never reach a log line, whatever a library logs). `server.log_format` / `--log-format`: `text`
(`2026-01-02 03:04:05,678 INFO name: message`) or `json` (one JSON object per line for every
record: `time` in UTC, `level`, `logger`, `message`, the access fields, `exc_info`).

The access log (`AccessLog`, logger `pllm.access`) writes one INFO record per request: method,
path, status, latency, model, deployment, tokens, request id (plus stream and time to first
token, attempts, fallback, cost and error code when they apply); never a prompt, an answer, a
key or a user. Text lines are logfmt after the first three fields:

    POST /v1/chat/completions 200 latency_ms=12.3 model=gpt-4o deployment=gpt-4o.openai.1a2b3c4d
    prompt_tokens=12 completion_tokens=30 request_id=req_4f1c... (one line)

It is built for the request path: fields go into the record as they are, the line is rendered
only by the formatter, and the only values a client chose (the model name, its request id) are
redacted on their own, so the record skips the whole-line redaction pass.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from itertools import islice
from typing import Any, Protocol

import orjson

from pllm.config.model import Settings
from pllm.redaction import RedactingFilter, redact

__all__ = ["ACCESS_LOGGER", "AccessLog", "BatchingHandler", "JsonFormatter", "RequestFacts",
           "TextFormatter", "setup_logging"]

ACCESS_LOGGER = "pllm.access"
_PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
          "embeddings": "/v1/embeddings", "messages": "/v1/messages"}
_PLAIN = re.compile(r"[\x21\x23-\x3c\x3e-\x5b\x5d-\x7e]{1,200}")
"""Printable ASCII without space, quote, equals sign or backslash: written unquoted."""
_MAX_VALUE = 200


def setup_logging(settings: Settings, level: str | None = None) -> None:
    """`level` overrides `server.log_level`."""
    server = settings.server
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if server.log_format == "json" else TextFormatter())
    handler.addFilter(_Redacting(settings.secrets()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or server.log_level).upper())
    # No format here shows them, and each costs every record (the access log's included).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes access-log lines in batches: one write per `interval` (or
    per `limit` characters) instead of one per record, which is what the access log costs most
    at thousands of requests a second. Any other record (a reload, a warning) is written at
    once, after the lines waiting before it, so order is kept; a daemon thread writes what
    waits, and `logging.shutdown` (at exit) flushes the rest. (logging.handlers.MemoryHandler
    batches by count only, and would hold the last lines of a quiet spell indefinitely.)"""

    def __init__(self, stream: Any, interval: float = 0.2, limit: int = 65536) -> None:
        super().__init__(stream)
        self.interval = interval
        self.limit = limit
        self._pending: list[str] = []
        self._size = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        # Handler.handle holds self.lock (an RLock) around emit, as flush does around the swap.
        self._pending.append(line)
        self._size += len(line)
        if not getattr(record, "access", None) or self._size >= self.limit:
            self.flush()
        elif self._thread is None:
            self._start()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if not self._pending:
                return
            lines, self._pending, self._size = self._pending, [], 0
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed or gone: nothing to tell it
                pass

    def close(self) -> None:
        self.flush()
        self._wake.set()
        super().close()

    def _start(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pllm-log-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._wake.wait(self.interval):
            if self._pending:
                self.flush()


class _Redacting(RedactingFilter):
    """Records the access log cleaned itself (`redacted`) pass untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        return super().filter(record)


class TextFormatter(logging.Formatter):
    """`2026-01-02 03:04:05,678 LEVEL logger: message` (then a traceback, if any), written out
    directly, with the timestamp's seconds rendered once per second."""

    _second = -1
    _prefix = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = second
        line = (f"{self._prefix},{int(record.msecs):03d} {record.levelname} {record.name}: "
                f"{record.getMessage()}")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    _second = -1
    _prefix = ""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] | None = getattr(record, "access", None)
        if fields is not None:
            message = f"{fields['method']} {fields['path']} {fields['status']}"
        else:
            message = record.getMessage()
        out: dict[str, Any] = {"time": self._time(record), "level": record.levelname,
                               "logger": record.name, "message": message}
        if fields is not None:
            out.update(fields)
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int(record.msecs):03d}Z"


class RequestFacts(Protocol):
    """What the access log reads of a finished request (`pllm.server.events.RequestDone`)."""

    @property
    def request_id(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def status(self) -> int: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def deployment(self) -> str | None: ...
    @property
    def stream(self) -> bool: ...
    @property
    def ttft_s(self) -> float | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def fallback(self) -> str | None: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def cost_usd(self) -> float: ...
    @property
    def error(self) -> str | None: ...


class _Line:
    """An access record's text message, rendered only if a text formatter asks for it."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        f = self.fields
        plain = _PLAIN.fullmatch
        path = f["path"]
        parts = [f"{f['method']} {path if plain(path) else _json(path)} {f['status']}"]
        for key, v in islice(f.items(), 3, None):
            if type(v) is str:
                if plain(v) is None:
                    v = _json(v)
            elif v is None:
                v = "-"
            elif v is True:
                v = "true"
            parts.append(f"{key}={v}")
        return " ".join(parts)


def _json(value: str) -> str:
    return orjson.dumps(value).decode()


class AccessLog:
    """The request observer writing the access log. `safe_models`: configured model names,
    which need no redaction."""

    def __init__(self, secrets: Iterable[str] = (), safe_models: Iterable[str] = (),
                 logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)
        self.safe_models = frozenset(safe_models)

    def __call__(self, e: RequestFacts) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        model = e.model
        if model is not None and model not in self.safe_models:
            model = self._clean(model)
        rid = e.request_id
        fields: dict[str, Any] = {
            "method": "POST", "path": _PATHS.get(e.endpoint, "/" + e.endpoint),
            "status": e.status, "latency_ms": round(e.duration_s * 1000.0, 3),
            "model": model, "deployment": e.deployment, "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens,
            "request_id": rid if rid.startswith("req_") else self._clean(rid)}
        if e.stream:
            fields["stream"] = True
            if e.ttft_s is not None:
                fields["ttft_ms"] = round(e.ttft_s * 1000.0, 3)
        if e.attempts > 1:
            fields["attempts"] = e.attempts
        if e.fallback:
            fields["fallback"] = e.fallback
        if e.cost_usd:
            fields["cost_usd"] = round(e.cost_usd, 8)
        if e.error:
            fields["error"] = self._clean(e.error)
        self._emit(logging.INFO, fields)

    def http(self, method: str, path: str, status: int, duration_s: float,
             request_id: str | None, level: int = logging.INFO) -> None:
        """A request the observer does not see (admin API, health, metrics, docs)."""
        if not self.logger.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "method": method, "path": self._clean(path), "status": status,
            "latency_ms": round(duration_s * 1000.0, 3)}
        if request_id:
            fields["request_id"] = self._clean(request_id)
        self._emit(level, fields)

    def _emit(self, level: int, fields: dict[str, Any]) -> None:
        logger = self.logger
        record = logger.makeRecord(logger.name, level, __file__, 0, _Line(fields), (), None)
        record.access = fields
        record.redacted = True
        logger.handle(record)

    def _clean(self, value: str) -> str:
        return redact(value[:_MAX_VALUE], self.secrets)
