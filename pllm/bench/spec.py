"""What to load and how: endpoints, the request each sends, the load shape, argument checks.

Everything here is plain data that crosses to the load processes (picklable). The request is
built once per process as bytes with a fixed-width counter inside the prompt, so every request
differs (no cache can answer it) yet rendering one is a byte concatenation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

__all__ = ["Endpoint", "Job", "Load", "RequestTemplate", "Target", "Workload", "auto_processes",
           "nonce_base", "split", "validate"]

# Short English words that are one token each (with their leading space) in the common BPE
# vocabularies, so --prompt-tokens N gives a prompt of about N tokens.
_WORDS = ("the", "of", "and", "to", "in", "is", "you", "that", "it", "was", "for", "on", "are",
          "as", "with", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by")
_NONCE = 20  # digits of the per-request number in the prompt (see `Job.nonce`)
INFERENCE_TAILS = ("/chat/completions", "/completions")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where requests go: scheme, host, port and the full request path."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """A base URL (`http://h:p`, `http://h:p/v1`) or a full `.../chat/completions` URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are not supported; use --key")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise ValueError(f"bad port in {url!r}") from e
        path = parts.path.rstrip("/")
        if not path.endswith(INFERENCE_TAILS):
            path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
        if parts.query:
            path += "?" + parts.query
        return cls(parts.scheme, parts.hostname, port, path)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path.split('?')[0]}"

    @property
    def legacy(self) -> bool:
        return not self.path.split("?")[0].endswith("/chat/completions")


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint under load: `name` is its role ("target" or "baseline", the keys of the
    JSON output), `label` what the table calls it."""

    name: str
    endpoint: Endpoint
    key: str | None
    model: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Workload:
    stream: bool = False
    prompt_tokens: int = 16
    max_tokens: int = 16
    timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Load:
    """One round against one endpoint: `requests` in total or for `duration_s` seconds."""

    concurrency: int
    requests: int | None = None
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One load process's share of a round."""

    target: Target
    workload: Workload
    concurrency: int
    requests: int | None
    duration_s: float | None
    index: int
    """The process's number within the round."""
    nonce: int = 0
    """Where this job's request numbers start: the coordinator sets it from a random run
    number, the round and the process, so no two requests of a run or of two runs are equal
    (a cache in the gateway cannot answer them) and numbers never need to be shared."""


def split(load: Load, target: Target, workload: Workload, processes: int) -> list[Job]:
    """Share a round among at most `processes` processes (never more than connections)."""
    p = max(1, min(processes, load.concurrency, load.requests or load.concurrency))
    jobs = []
    for i in range(p):
        conc = load.concurrency // p + (i < load.concurrency % p)
        reqs = None if load.requests is None else load.requests // p + (i < load.requests % p)
        jobs.append(Job(target, workload, conc, reqs, load.duration_s, i))
    return jobs


def auto_processes(concurrency: int, cpus: int | None = None) -> int:
    """One load process per 256 connections, at most one per CPU: one process drives ~20,000
    requests/s against a fast mock (benchmarks/README.md), far above one gateway worker."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(cpus, math.ceil(concurrency / 256)))


def nonce_base(run: int, batch: int, index: int) -> int:
    """The first request number of a job: run (4 digits) | batch (3) | process (3) | 10 digits
    counted by the process."""
    return (((run % 10_000) * 1000 + batch % 1000) * 1000 + index % 1000) * 10 ** 10


class RequestTemplate:
    """The HTTP/1.1 request of a job as bytes around a fixed-width counter."""

    __slots__ = ("_after", "_before", "_number")

    def __init__(self, job: Job) -> None:
        t, w = job.target, job.workload
        words = max(1, w.prompt_tokens - 10)  # the number and the chat framing take ~10
        text = "#" * _NONCE + "".join(" " + _WORDS[i % len(_WORDS)] for i in range(words))
        body: dict[str, object] = {"model": t.model, "max_tokens": w.max_tokens}
        if t.endpoint.legacy:
            body["prompt"] = text
        else:
            body["messages"] = [{"role": "user", "content": text}]
        if w.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        raw = orjson.dumps(body)
        before, _, after = raw.partition(b"#" * _NONCE)
        ep = t.endpoint
        default = 443 if ep.scheme == "https" else 80
        host = ep.host if ep.port == default else f"{ep.host}:{ep.port}"
        head = (f"POST {ep.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pllm-bench\r\n"
                f"Content-Type: application/json\r\nAccept: */*\r\n"
                + (f"Authorization: Bearer {t.key}\r\n" if t.key else "")
                + f"Content-Length: {len(raw)}\r\n\r\n")
        self._before = head.encode() + before
        self._after = after
        self._number = job.nonce

    def next(self) -> bytes:
        self._number += 1
        return self._before + b"%020d" % self._number + self._after


def validate(*, url: str | None, mock: bool, compare: str | None, requests: int | None,
             duration: float | None, concurrency: int, processes: int | None, rounds: int,
             prompt_tokens: int, max_tokens: int, timeout: float) -> list[str]:
    """Every problem with the arguments (empty: fine)."""
    problems = []
    if mock and (url or compare):
        problems.append("--mock starts its own endpoints: leave out --url and --compare")
    if not mock and not url:
        problems.append("give --url (the endpoint to load) or --mock")
    for name, value in (("--url", url), ("--compare", compare)):
        if value:
            try:
                Endpoint.parse(value)
            except ValueError as e:
                problems.append(f"{name}: {e}")
    if requests is not None and duration is not None:
        problems.append("give -n/--requests or -d/--duration, not both")
    checks = (("-n/--requests", requests, 1), ("-c/--concurrency", concurrency, 1),
              ("--processes", processes, 1), ("--rounds", rounds, 1),
              ("--prompt-tokens", prompt_tokens, 1), ("--max-tokens", max_tokens, 1))
    for name, n, least in checks:
        if n is not None and n < least:
            problems.append(f"{name} must be at least {least} (got {n})")
    if duration is not None and not duration > 0:
        problems.append(f"-d/--duration must be more than 0 seconds (got {duration:g})")
    if not timeout > 0:
        problems.append(f"--timeout must be more than 0 seconds (got {timeout:g})")
    return problems
