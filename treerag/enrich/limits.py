"""Spend limits for remote enrichment: a sliding-window Budget and a CircuitBreaker.

Both are pure and take an injectable clock (``time.monotonic`` by default), so
the runner asks them "may I dispatch now, and if not, when?" and schedules one
wake-up for the answer instead of polling.

Breaker states: closed --N consecutive transient failures--> open --cool-down-->
half-open (one probe allowed) --success--> closed / --failure--> open again with
the cool-down doubled (capped).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Budget", "CircuitBreaker"]

logger = logging.getLogger(__name__)

WINDOW_S = 3600.0
Clock = Callable[[], float]


class Budget:
    """Requests and tokens per hour over a sliding window; 0 means unlimited."""

    def __init__(self, requests_per_hour: int, tokens_per_hour: int, *, clock: Clock = time.monotonic) -> None:
        self.requests_per_hour = max(0, int(requests_per_hour))
        self.tokens_per_hour = max(0, int(tokens_per_hour))
        self._clock = clock
        self._events: deque[tuple[float, int, int]] = deque()  # (when, requests, tokens)
        self._requests = 0
        self._tokens = 0
        self.total_requests = 0
        self.total_tokens = 0

    def _expire(self, now: float) -> None:
        events = self._events
        while events and events[0][0] <= now - WINDOW_S:
            _, requests, tokens = events.popleft()
            self._requests -= requests
            self._tokens -= tokens

    def record(self, requests: int, tokens: int) -> None:
        if requests <= 0 and tokens <= 0:
            return
        now = self._clock()
        self._expire(now)
        self._events.append((now, requests, tokens))
        self._requests += requests
        self._tokens += tokens
        self.total_requests += requests
        self.total_tokens += tokens

    def spent(self) -> tuple[int, int]:
        """(requests, tokens) spent in the last hour."""
        self._expire(self._clock())
        return self._requests, self._tokens

    def left(self) -> tuple[int | None, int | None]:
        """Requests and tokens left this hour (None: unlimited)."""
        requests, tokens = self.spent()
        return (
            None if not self.requests_per_hour else max(0, self.requests_per_hour - requests),
            None if not self.tokens_per_hour else max(0, self.tokens_per_hour - tokens),
        )

    def allows(self, requests: int = 1) -> bool:
        """Whether ``requests`` more requests fit (tokens: any left at all)."""
        req_left, tok_left = self.left()
        return (req_left is None or req_left >= requests) and (tok_left is None or tok_left > 0)

    def next_allowed_in(self) -> float:
        """Seconds until one more request fits (0 when it fits now)."""
        if self.allows():
            return 0.0
        now = self._clock()
        # Walk the window from the oldest event until enough has expired.
        requests, tokens = self._requests, self._tokens
        for when, r, t in self._events:
            requests -= r
            tokens -= t
            fits_r = not self.requests_per_hour or requests + 1 <= self.requests_per_hour
            fits_t = not self.tokens_per_hour or tokens < self.tokens_per_hour
            if fits_r and fits_t:
                return max(0.0, when + WINDOW_S - now)
        return WINDOW_S

    def statistics(self) -> dict[str, int | None]:
        requests, tokens = self.spent()
        req_left, tok_left = self.left()
        return {
            "requests": requests,
            "tokens": tokens,
            "requests_total": self.total_requests,
            "tokens_total": self.total_tokens,
            "requests_per_hour_left": req_left,
            "tokens_per_hour_left": tok_left,
        }


class CircuitBreaker:
    """Stops dispatching after ``threshold`` consecutive transient failures."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"

    def __init__(
        self,
        threshold: int = 3,
        cooldown_s: float = 30.0,
        max_cooldown_s: float = 900.0,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.threshold = max(1, threshold)
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._cooldown_s = cooldown_s
        self._probing = False
        self.opened = 0  # how many times it opened

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return self.CLOSED
        if self._probing or self._clock() >= self._opened_at + self._cooldown_s:
            return self.HALF_OPEN
        return self.OPEN

    def allow(self) -> bool:
        """Whether a request may go out now; in half-open, only one probe at a time."""
        state = self.state
        if state == self.CLOSED:
            return True
        if state == self.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def retry_in(self) -> float | None:
        """Seconds until the half-open probe (None when not open): the runner's one wake-up."""
        if self._opened_at is None or self._probing:
            return None
        return max(0.0, self._opened_at + self._cooldown_s - self._clock())

    def success(self) -> None:
        if self._opened_at is not None:
            logger.info("enrichment circuit closed")
        self._failures = 0
        self._opened_at = None
        self._probing = False
        self._cooldown_s = self.base_cooldown_s

    def failure(self, *, transient: bool = True) -> None:
        """A failed batch; only transient failures (network, 429, 5xx) count towards opening."""
        if not transient:
            self._probing = False
            return
        if self._probing:
            self._probing = False
            self._cooldown_s = min(self._cooldown_s * 2, self.max_cooldown_s)
            self._opened_at = self._clock()
            self.opened += 1
            logger.warning("enrichment circuit re-opened, next probe in %.0f s", self._cooldown_s)
            return
        self._failures += 1
        if self._opened_at is None and self._failures >= self.threshold:
            self._opened_at = self._clock()
            self.opened += 1
            logger.warning(
                "enrichment circuit opened after %d transient failures, probe in %.0f s",
                self._failures,
                self._cooldown_s,
            )
