"""A server-wide budget of delivery threads, shared by the dispatchers of every tenant.

Each hosted tenant has its own :class:`~sandbox.events.delivery.Dispatcher`;
without a shared budget 100 tenants could run 100 times ``--delivery-workers``
threads. A dispatcher takes a thread from the budget before it starts a
worker and gives it back when the worker ends. A dispatcher that found the
budget spent is remembered and woken when a thread comes back, so its events
wait their turn instead of being lost.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol


class Waiter(Protocol):
    def poke(self) -> bool:
        """A thread came free: start a worker if work waits for one; whether it did."""


class ThreadBudget:
    """At most ``size`` delivery threads alive at once, across all dispatchers."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the delivery thread budget must be at least 1")
        self.size = size
        self._used = 0
        self._waiting: deque[Waiter] = deque()
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def take(self, waiter: Waiter) -> bool:
        """One thread for ``waiter``; False (and ``waiter`` queued) when all are in use."""
        with self._lock:
            if self._used < self.size:
                self._used += 1
                return True
            if waiter not in self._waiting:
                self._waiting.append(waiter)
            return False

    def give_back(self) -> None:
        """A worker ended: wake the dispatcher that waited longest. Call it holding no
        dispatcher's lock (it takes the woken one's)."""
        with self._lock:
            self._used -= 1
        while True:  # offered in turn until one takes it (or nobody waits)
            with self._lock:
                if not self._waiting or self._used >= self.size:
                    return
                waiter = self._waiting.popleft()
            if waiter.poke():
                return
