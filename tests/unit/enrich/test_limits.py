"""Budget sliding window and CircuitBreaker states, with an injected clock."""

from __future__ import annotations

from treerag.enrich.limits import Budget, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_caps_requests_and_frees_them_as_the_window_slides() -> None:
    clock = Clock()
    budget = Budget(requests_per_hour=3, tokens_per_hour=0, clock=clock)
    for _ in range(3):
        assert budget.allows()
        budget.record(1, 100)
        clock.now += 60
    assert not budget.allows()
    assert budget.left() == (0, None)
    # The first request (at t=1000) leaves the window at t=4600.
    assert budget.next_allowed_in() == 4600 - clock.now
    clock.now = 4600.0
    assert budget.allows()
    assert budget.spent() == (2, 200)
    assert budget.statistics()["requests_total"] == 3


def test_budget_caps_tokens() -> None:
    clock = Clock()
    budget = Budget(requests_per_hour=0, tokens_per_hour=1000, clock=clock)
    budget.record(1, 600)
    assert budget.allows()
    budget.record(1, 500)
    assert not budget.allows()
    assert budget.left() == (None, 0)
    clock.now += 3600
    assert budget.allows()
    assert budget.left() == (None, 1000)


def test_unlimited_budget() -> None:
    budget = Budget(0, 0, clock=Clock())
    budget.record(10_000, 10**9)
    assert budget.allows()
    assert budget.next_allowed_in() == 0.0


def test_breaker_opens_after_threshold_and_probes_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=30, max_cooldown_s=100, clock=clock)
    for _ in range(2):
        breaker.failure()
        assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.retry_in() == 30
    clock.now += 30
    assert breaker.state == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.failure()
    assert breaker.state == "open"
    assert breaker.retry_in() == 60  # backoff
    clock.now += 60
    assert breaker.allow()
    breaker.failure()
    assert breaker.retry_in() == 100  # capped
    clock.now += 100
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.retry_in() is None
    assert breaker.opened == 3


def test_breaker_success_resets_the_count_and_permanent_errors_do_not_count() -> None:
    breaker = CircuitBreaker(threshold=2, clock=Clock())
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure(transient=False)
    breaker.failure(transient=False)
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"
