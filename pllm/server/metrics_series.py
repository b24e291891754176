"""The Prometheus series pllm exports and the request-path code that feeds them.

Every finished request reaches `Series.request_done` (a `RequestDone` observer) and every
upstream attempt `Series.attempt_done`; both look their label children up once per label
combination (a dict hit afterwards), so a request costs a handful of counter increments and
histogram observations. Label values are bounded: model groups and deployments are the
configured ones (a name a client made up is `other`; no model read yet is `none`), endpoints,
statuses and providers are closed sets, and no key, user, prompt or request id is ever a label.

Token and duration series also exist under their OpenTelemetry GenAI semantic-convention names
(`gen_ai.client.token.usage` -> `gen_ai_client_token_usage`, ...), as an OTLP->Prometheus bridge
would name them, for dashboards built on the conventions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pllm.config.model import Deployment
from pllm.server.events import RequestDone

__all__ = ["NONE", "OTHER", "DeploymentRow", "Series", "genai_provider", "operation_name"]

NONE = "none"
"""Label value for 'not known': no model was read, no deployment served."""
OTHER = "other"
"""Label value for a model name that is not a configured model group (or alias)."""

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0, 300.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The bucket boundaries the GenAI semantic conventions advise.
GENAI_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                          20.48, 40.96, 81.92)
GENAI_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                       16777216, 67108864)
GENAI_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                      2.5, 5.0, 7.5, 10.0)

CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_OPERATIONS = {"chat": "chat", "messages": "chat", "completions": "text_completion",
               "embeddings": "embeddings"}
# pllm's provider names -> gen_ai.provider.name's well-known values (others pass unchanged).
_GENAI_PROVIDERS = {
    "azure": "azure.ai.openai", "azure_text": "azure.ai.openai", "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini", "cohere_chat": "cohere",
    "mistral": "mistral_ai", "xai": "x_ai", "watsonx": "ibm.watsonx.ai",
    "text-completion-openai": "openai",
}


def operation_name(endpoint: str) -> str:
    """`gen_ai.operation.name` for a pllm endpoint."""
    return _OPERATIONS.get(endpoint, endpoint)


def genai_provider(provider: str) -> str:
    """`gen_ai.provider.name` for a pllm provider name."""
    return _GENAI_PROVIDERS.get(provider, provider)


_REJECTIONS = {"rate_limit_exceeded": "rate_limit", "budget_exceeded": "budget"}
_DEP = ("model_group", "deployment")


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    """What the router knows of one deployment at a scrape."""

    deployment: Deployment
    in_flight: int
    health: int
    circuit: str


class _Cell:
    """The children for one (group, deployment, endpoint, status, stream) combination."""

    __slots__ = ("duration", "requests", "served")

    def __init__(self, requests: Counter, duration: Histogram | None,
                 served: _Served | None) -> None:
        self.requests, self.duration, self.served = requests, duration, served


@dataclass(slots=True)
class _Served:
    """The children of a request a deployment answered."""

    overhead: Histogram
    timing: Histogram
    """Time to first token (streams) or upstream duration."""
    tokens_in: Counter
    tokens_out: Counter
    cost: Counter
    genai: tuple[Histogram, Histogram, Histogram, Histogram | None] | None
    """Successes only: input and output token usage, operation duration, time to first
    token (streams)."""


class Series:
    """The metric families, created once per app. `registry=None` leaves them unregistered
    (multiprocess mode: values go to the shared directory and are read back from there)."""

    def __init__(self, registry: CollectorRegistry | None,
                 group_of: Callable[[str], str]) -> None:
        self._group_of = group_of
        r = registry
        dep_labels = (*_DEP, "endpoint")
        self.requests = Counter("pllm_requests", "Requests answered, by model group, deployment, "
                                "endpoint and HTTP status", (*dep_labels, "status"), registry=r)
        self.duration = Histogram(
            "pllm_request_duration_seconds", "Arrival to the last byte of the answer; "
            "deployment=none for requests no deployment answered", dep_labels, registry=r,
            buckets=DURATION_BUCKETS)
        self.overhead = Histogram(
            "pllm_gateway_overhead_seconds", "pllm's own time: total minus upstream time "
            "(streams: to the first byte sent)", dep_labels, registry=r, buckets=OVERHEAD_BUCKETS)
        self.upstream = Histogram(
            "pllm_upstream_duration_seconds", "Upstream time of non-streamed answers", _DEP,
            registry=r, buckets=DURATION_BUCKETS)
        self.first_token = Histogram(
            "pllm_time_to_first_token_seconds", "Streams: arrival to the first chunk sent",
            _DEP, registry=r, buckets=TTFT_BUCKETS)
        self.tokens = Counter("pllm_tokens", "Tokens counted, by type (input or output)",
                              (*_DEP, "type"), registry=r)
        self.cost = Counter("pllm_cost_usd", "Spend in US dollars", _DEP, registry=r)
        self.attempts = Counter("pllm_upstream_attempts", "Upstream attempts by outcome "
                                "(HTTP status, 599 for a transport failure)",
                                (*_DEP, "status"), registry=r)
        self.retries = Counter("pllm_retries", "Upstream attempts after a request's first",
                               ("model_group",), registry=r)
        self.fallbacks = Counter("pllm_fallbacks", "Requests answered by a fallback model group",
                                 ("model_group", "fallback"), registry=r)
        self.rejected = Counter("pllm_rejected_requests", "Requests refused with 429 by a rate "
                                "limit or a budget", ("reason",), registry=r)
        self._rejected = {code: self.rejected.labels(reason)
                          for code, reason in _REJECTIONS.items()}
        self.cache_hits = Counter("pllm_cache_hits", "Answers served from the cache", registry=r)
        self.cache_misses = Counter("pllm_cache_misses", "Cache lookups that found nothing",
                                    registry=r)
        genai = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
        self.genai_tokens = Histogram(
            "gen_ai_client_token_usage", "Number of input and output tokens used "
            "(gen_ai.client.token.usage)", (*genai, "gen_ai_token_type"), registry=r,
            buckets=GENAI_TOKEN_BUCKETS)
        self.genai_duration = Histogram(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration, pllm being "
            "the upstream's client (gen_ai.client.operation.duration)", genai, registry=r,
            buckets=GENAI_DURATION_BUCKETS)
        self.genai_ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds", "Time to the first token for "
            "successful streams, pllm being the clients' server "
            "(gen_ai.server.time_to_first_token)", genai, registry=r,
            buckets=GENAI_TTFT_BUCKETS)
        self.in_flight = Gauge("pllm_in_flight_requests", "Upstream attempts in flight",
                               _DEP, registry=r, multiprocess_mode="livesum")
        self.health = Gauge("pllm_deployment_health_score", "The router's health score, 0-100 "
                            "(lowest across workers)", _DEP, registry=r,
                            multiprocess_mode="livemin")
        self.circuit = Gauge("pllm_deployment_circuit_state", "Circuit breaker: 0 closed, "
                             "1 half-open, 2 open (worst across workers)", _DEP, registry=r,
                             multiprocess_mode="livemax")
        self.info = Gauge("pllm_deployment_info", "Configured deployments (value 1)",
                          (*_DEP, "provider"), registry=r, multiprocess_mode="livemax")
        self._cells: dict[tuple[str, str, str, int, bool], _Cell] = {}
        self._small: dict[tuple[object, ...], Counter] = {}
        self._shown: set[tuple[str, str, str]] = set()

    # -- the request path ----------------------------------------------------------------
    def request_done(self, e: RequestDone) -> None:
        group = e.model_group or (self._group_of(e.model) if e.model is not None else NONE)
        key = (group, e.deployment or NONE, e.endpoint, e.status, e.stream)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = self._cell(key, e.provider)
        cell.requests.inc()
        if cell.duration is not None:
            cell.duration.observe(e.duration_s)
        served = cell.served
        if served is None:
            if e.status == 429 and e.error in self._rejected:
                self._rejected[e.error].inc()
            return
        upstream = e.upstream_s
        timing = e.ttft_s if e.stream else upstream
        if timing is not None:
            served.timing.observe(timing)
            if upstream is not None:
                served.overhead.observe(max(0.0, (timing if e.stream else e.duration_s)
                                            - upstream))
        if e.prompt_tokens:
            served.tokens_in.inc(e.prompt_tokens)
        if e.completion_tokens:
            served.tokens_out.inc(e.completion_tokens)
        if e.cost_usd:
            served.cost.inc(e.cost_usd)
        if served.genai is not None:
            tokens_in, tokens_out, duration, ttft = served.genai
            tokens_in.observe(e.prompt_tokens)
            tokens_out.observe(e.completion_tokens)
            duration.observe(e.duration_s if e.stream or upstream is None else upstream)
            if ttft is not None and e.ttft_s is not None:
                ttft.observe(e.ttft_s)
        if e.attempts > 1:
            self._child(self.retries, group).inc(e.attempts - 1)
        if e.fallback:
            asked = self._group_of(e.model) if e.model is not None else NONE
            self._child(self.fallbacks, asked, group).inc()
        if e.cache_hit:
            self.cache_hits.inc()

    def attempt_done(self, group: str, deployment: str, status: int) -> None:
        self._child(self.attempts, group, deployment, str(status)).inc()

    def _child(self, family: Counter, *labels: str) -> Counter:
        key = (id(family), *labels)
        child = self._small.get(key)
        if child is None:
            child = self._small[key] = family.labels(*labels)
        return child

    def _cell(self, key: tuple[str, str, str, int, bool], provider: str | None) -> _Cell:
        group, dep, endpoint, status, stream = key
        requests = self.requests.labels(group, dep, endpoint, str(status))
        duration = self.duration.labels(group, dep, endpoint) if group != NONE else None
        if dep == NONE:
            return _Cell(requests, duration, None)
        genai = None
        if status < 400:
            labels = (operation_name(endpoint), genai_provider(provider or NONE), group)
            genai = (self.genai_tokens.labels(*labels, "input"),
                     self.genai_tokens.labels(*labels, "output"),
                     self.genai_duration.labels(*labels),
                     self.genai_ttft.labels(*labels) if stream else None)
        served = _Served(
            self.overhead.labels(group, dep, endpoint),
            (self.first_token if stream else self.upstream).labels(group, dep),
            self.tokens.labels(group, dep, "input"), self.tokens.labels(group, dep, "output"),
            self.cost.labels(group, dep), genai)
        return _Cell(requests, duration, served)

    # -- scrape time ---------------------------------------------------------------------
    def show_deployments(self, rows: Iterable[DeploymentRow]) -> None:
        """Set the router gauges; deployments gone since the last call (a reload) are dropped."""
        shown: set[tuple[str, str, str]] = set()
        for row in rows:
            d = row.deployment
            labels = (d.model_name, d.id)
            shown.add((*labels, d.provider))
            self.in_flight.labels(*labels).set(row.in_flight)
            self.health.labels(*labels).set(row.health)
            self.circuit.labels(*labels).set(CIRCUIT_VALUES.get(row.circuit, 0))
            self.info.labels(*labels, d.provider).set(1)
        for group, dep, provider in self._shown - shown:
            for family in (self.in_flight, self.health, self.circuit):
                family.remove(group, dep)
            self.info.remove(group, dep, provider)
        self._shown = shown
