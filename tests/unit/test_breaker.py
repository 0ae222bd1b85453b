"""The language model's circuit breaker as a state machine, on a fake clock."""

from __future__ import annotations

import pytest

from ragstream.queries.answers.breaker import BreakerState, CircuitBreaker
from ragstream.queries.answers.exceptions import InvalidGeneratorArgument

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, failures: int = 3, reset_s: float = 10.0) -> tuple[CircuitBreaker, list[str]]:
    changes: list[str] = []
    b = CircuitBreaker(failures, reset_s, clock=clock, on_change=lambda s: changes.append(s.value))
    return b, changes


def test_it_opens_after_the_threshold_of_failures_in_a_row_only() -> None:
    clock = Clock()
    b, changes = breaker(clock)
    for _ in range(2):
        assert b.allow()
        b.failure()
    assert b.allow()
    b.success()  # a success in between starts the count again
    for _ in range(2):
        b.failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    assert changes == ["open"]


def test_after_the_reset_time_one_trial_goes_through_and_its_success_closes_it() -> None:
    clock = Clock()
    b, changes = breaker(clock, failures=1)
    b.failure()
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.2
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the trial
    assert not b.allow()  # everyone else still falls back while it runs
    b.success()
    assert b.state is BreakerState.CLOSED and b.allow()
    assert changes == ["open", "half-open", "closed"]


def test_a_failed_trial_opens_it_again_for_another_reset_time() -> None:
    clock = Clock()
    b, _ = breaker(clock, failures=2)
    b.failure()
    b.failure()
    clock.now += 10
    assert b.allow()
    b.failure()  # one failure of the trial is enough
    assert b.state is BreakerState.OPEN
    clock.now += 5
    assert not b.allow()
    clock.now += 5
    assert b.allow()


def test_a_trial_released_without_an_outcome_lets_the_next_request_try() -> None:
    clock = Clock()
    b, _ = breaker(clock, failures=1)
    b.failure()
    clock.now += 10
    assert b.allow()
    b.release()
    assert b.allow()


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(InvalidGeneratorArgument):
        CircuitBreaker(0, 1.0)
    with pytest.raises(InvalidGeneratorArgument):
        CircuitBreaker(1, 0)
