"""A circuit breaker for the language-model endpoint: a small state machine, no I/O.

closed: requests go through; `failure_threshold` failures in a row open it.
open: requests are refused at once (the caller falls back) until `reset_timeout_s` has passed.
half-open: one trial request goes through; its success closes the breaker, its failure opens it
again for another `reset_timeout_s`. Other requests meanwhile are refused as if it were open, so a
recovering endpoint is not hit by everyone at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from ragstream.queries.answers.exceptions import InvalidGeneratorArgument


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0:
            raise InvalidGeneratorArgument("need failure_threshold >= 1 and reset_timeout_s > 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """Whether a request may go to the endpoint now; a True in half-open is the one trial, and
        the caller must report its outcome with `success` or `failure`."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._set(BreakerState.HALF_OPEN)
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._trial_running = False
        self._set(BreakerState.CLOSED)

    def failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self.failure_threshold:
            self._trial_running = False
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def release(self) -> None:
        """The trial ended without saying anything about the endpoint (the caller went away)."""
        self._trial_running = False

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
