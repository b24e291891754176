"""A circuit breaker per deployment: a pure state machine; the caller passes the time.

    closed --(threshold consecutive failures)--> open --(timeout elapsed)--> half_open
    half_open --(the one probe succeeds)--> closed;  --(it fails)--> open again

`cool_down(until)` opens the breaker until a given time whatever its state: a 429 with
`retry-after` keeps the deployment out for exactly that long; a rejected key for the breaker's
timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Breaker", "BreakerState"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class Breaker:
    threshold: int
    timeout: float
    state: BreakerState = "closed"
    failures: int = 0
    """Consecutive failures."""
    open_until: float = 0.0
    probing: bool = False
    """In half_open: the single probe request is in flight."""

    def available(self, now: float) -> bool:
        """Could a request go to this deployment now (without taking the probe slot)?"""
        if self.state == "closed":
            return True
        if self.state == "open":
            return now >= self.open_until
        return not self.probing

    def acquire(self, now: float) -> bool:
        """Take the deployment for one request; False if the breaker forbids it. An open
        breaker whose time is up becomes half_open and this request is its probe."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if now < self.open_until:
                return False
            self.state = "half_open"
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            self._open(now + self.timeout)

    def release(self) -> None:
        """The request ended without saying anything about health (cancelled, client error):
        a half_open breaker may send another probe."""
        self.probing = False

    def cool_down(self, until: float) -> None:
        """Open until exactly `until` (a provider's retry-after is the best information)."""
        self._open(until)

    def _open(self, until: float) -> None:
        self.state = "open"
        self.open_until = until
        self.probing = False
