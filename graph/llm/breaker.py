"""A circuit breaker in front of the model endpoint.

When the endpoint is down or slow, every chat turn would otherwise wait for its own
timeouts before answering offline. After `failures` consecutive failed calls the breaker
opens and calls fail at once; after `reset_s` one trial call is let through (half-open)
and its outcome closes or re-opens the circuit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "State"]

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(self, failures: int = 3, reset_s: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError("the breaker needs at least one failure to open")
        self.failures = failures
        self.reset_s = reset_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_started: float | None = None

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        now = self._clock()
        # A trial whose outcome never came back (cancelled) must not block forever.
        if state == "half-open" and (self._trial_started is None
                                     or now - self._trial_started >= self.reset_s):
            self._trial_started = now
            return True
        return False

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_started = None

    def record_failure(self) -> None:
        self._consecutive += 1
        self._trial_started = None
        if self._opened_at is not None or self._consecutive >= self.failures:
            # A failed trial re-opens for a full period; so does reaching the threshold.
            self._opened_at = self._clock()

    def reset(self) -> None:
        """Close the circuit (an operator, or a test, knows the endpoint is back)."""
        self.record_success()

    def retry_in(self) -> float:
        """Seconds until the next trial call is allowed; 0 when calls go out now."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_s - (self._clock() - self._opened_at))
