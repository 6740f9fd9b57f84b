"""The deliverer threads of a process, shared by every store (and tenant) it serves.

Two lanes, each a bounded number of threads started on demand:

* the **regular** lane, ``workers`` threads (``--delivery-workers``), serves
  every subscription not known to be slow;
* the **slow** lane, ``slow_workers`` threads (``--slow-delivery-workers``),
  serves the subscriptions known to be slow.

An attempt of the regular lane that runs longer than
:data:`~sandbox.events.delivery.SLOW_AFTER` moves, thread and all, to the slow
lane (:mod:`sandbox.events.watch` notices it while the thread waits for the
answer): the regular lane counts one thread fewer and starts another, which
carries on with the other subscriptions. When the slow lane is full the attempt
is cut short instead, and retried like one that timed out. Either way its
subscription is known slow from then on and served only by the slow lane, until
one of its attempts is answered within the threshold again. Connecting may take
the threshold in the regular lane; a subscription slower to connect is handed
to the slow lane without losing an attempt (nothing was sent). So no number of
slow, hanging or unreachable subscribers holds up the others for longer than
about a second, and the process never runs more than ``workers +
slow_workers`` deliverers.

Threads claim from every :class:`~sandbox.events.queue.Source` in turn, so
tenants share the lanes fairly. A thread that finds nothing ends, unless a
retry (or a source's poll) is due later and no other thread of its lane waits
for that: an idle sandbox on a file store runs no deliverer at all.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import requests

from sandbox.events.delivery import (
    CONNECT_TIMEOUT,
    SLOW_AFTER,
    DeliverySettings,
    attempt,
    decide,
    record,
)
from sandbox.events.queue import Claim, Key, Source
from sandbox.events.safety import CallbackPolicy, Resolver, pinned_session, resolve
from sandbox.events.watch import Watch, watching

log = logging.getLogger("sandbox.delivery")

REGULAR, SLOW = False, True


@dataclass
class _Thread:
    """A deliverer's lane (it changes when an attempt moves to the slow lane)."""

    slow: bool


class Deliverers:
    """The process's deliverer threads (see the module docstring)."""

    def __init__(self, settings: DeliverySettings, policy: CallbackPolicy, *,
                 resolver: Resolver = resolve,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        if settings.workers < 1 or settings.slow_workers < 1:
            raise ValueError("delivery workers and slow delivery workers must be at least 1")
        self.settings = settings
        self.policy = policy
        self._resolver = resolver
        self._now = now
        self._lock = threading.Lock()
        self._wake = {lane: threading.Condition(self._lock) for lane in (REGULAR, SLOW)}
        self._size = {REGULAR: settings.workers, SLOW: settings.slow_workers}
        self._running = {REGULAR: 0, SLOW: 0}
        #: Bumped by every poke: a thread that found nothing looks again if it changed.
        self._pokes = {REGULAR: 0, SLOW: 0}
        #: Whether a thread of the lane waits for the next due time.
        self._waiting = {REGULAR: False, SLOW: False}
        self._slow: set[Key] = set()
        self._sources: list[Source] = []
        self._turn = itertools.count()
        self._threads: set[threading.Thread] = set()
        self._closed = False

    # -- what the stores call -------------------------------------------------

    def add(self, source: Source) -> None:
        with self._lock:
            self._sources.append(source)

    def remove(self, source: Source) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def poke(self, key: Key | None = None) -> None:
        """Work may be waiting (for ``key``, or for anyone): make sure a thread looks."""
        with self._lock:
            lanes = (REGULAR, SLOW) if key is None else (key in self._slow,)
            for lane in lanes:
                if key is not None or lane is REGULAR or self._slow:
                    self._start_or_wake(lane)

    def is_slow(self, key: Key) -> bool:
        """Whether the subscription is served by the slow lane now."""
        with self._lock:
            return key in self._slow

    def forget(self, key: Key) -> None:
        """The subscription is gone: no need to remember its pace."""
        self._mark(key, slow=False)

    def threads(self) -> int:
        """Deliverer threads alive now (at most ``workers + slow_workers``)."""
        with self._lock:
            return len(self._threads)

    def close(self, timeout: float = 5.0) -> None:
        """Stop: no further attempt starts; waits a little for attempts in flight."""
        with self._lock:
            self._closed = True
            for wake in self._wake.values():
                wake.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # -- the threads --------------------------------------------------------------

    def _start_or_wake(self, lane: bool) -> None:
        # Called with the lock held.
        self._pokes[lane] += 1
        if self._closed:
            return
        if self._running[lane] < self._size[lane]:
            self._running[lane] += 1
            thread = threading.Thread(target=self._work, args=(_Thread(lane),),
                                      name="deliverer-slow" if lane else "deliverer",
                                      daemon=True)
            self._threads.add(thread)
            thread.start()
        else:
            self._wake[lane].notify()

    def _work(self, me: _Thread) -> None:
        try:
            # A session per thread: requests.Session is not safe across threads.
            with pinned_session(self.policy, self._resolver) as session:
                while (claim := self._next(me)) is not None:
                    try:
                        self._deliver(session, me, claim)
                    except Exception:  # a source that failed (a database away) must not
                        log.exception("delivery to %s failed", claim.key[1][:8])
                        time.sleep(0.5)  # ...end the thread in a tight loop
        finally:
            with self._lock:
                self._running[me.slow] -= 1
                self._threads.discard(threading.current_thread())

    def _next(self, me: _Thread) -> Claim | None:
        """The next head this thread's lane may take; None: the thread ends."""
        while True:
            with self._lock:
                if self._closed:
                    return None
                seen = self._pokes[me.slow]
                slow = frozenset(self._slow)
                turn = next(self._turn) % max(len(self._sources), 1)
                sources = self._sources[turn:] + self._sources[:turn]
            for source in sources:
                claim = source.claim(slow, me.slow)
                if claim is not None:
                    return claim
            with self._lock:
                if self._closed:
                    return None
                if self._pokes[me.slow] != seen:
                    continue  # work came while this thread looked
                dues = [due for source in sources
                        if (due := source.due_in(slow, me.slow)) is not None]
                if not dues:
                    return None
                if self._waiting[me.slow]:
                    self._wake[me.slow].notify()  # it may wait for a later time than ours
                    return None
                self._waiting[me.slow] = True
                self._wake[me.slow].wait(min(dues))
                self._waiting[me.slow] = False

    def _deliver(self, session: requests.Session, me: _Thread, claim: Claim) -> None:
        """One attempt of ``claim``'s head, recorded, and the head settled."""
        settings, delivery = self.settings, claim.delivery
        connect, read = settings.timeout
        regular = me.slow is REGULAR
        capped = regular and connect > SLOW_AFTER
        watch = Watch(SLOW_AFTER, read, lambda: self._to_slow_lane(me, claim.key))
        delivery.attempt += 1
        with watching(watch) if regular else contextlib.nullcontext(watch):
            outcome, status, error = attempt(
                session, delivery, settings, (min(connect, SLOW_AFTER) if capped else connect,
                                              read))
        slow = watch.elapsed() >= SLOW_AFTER
        if capped and error == CONNECT_TIMEOUT:  # nothing was sent: no attempt is lost
            delivery.attempt -= 1
            self._mark(claim.key, slow=True)
            claim.source.put_back(claim)
            log.info("delivery %s: slow to connect, handed to the slow lane",
                     delivery.subscription_id[:8])
        else:
            final, wait = decide(outcome, delivery.attempt, settings)
            # Known slow from now on, or fast again: an answer within the threshold.
            self._mark(claim.key, slow=slow or watch.slow)
            try:
                record(claim.log, delivery, final, status, error, wait,
                       attempts=settings.attempts, now=self._now())
            finally:  # a log that failed (a database away) must not strand the head
                claim.source.settle(claim, wait)
        with self._lock:
            lane = claim.key in self._slow
            if lane != me.slow:  # its next events belong to the other lane now
                self._start_or_wake(lane)

    def _mark(self, key: Key, *, slow: bool) -> None:
        with self._lock:
            if slow:
                self._slow.add(key)
            else:
                self._slow.discard(key)

    def _to_slow_lane(self, me: _Thread, key: Key) -> bool:
        """The watch's call, ``SLOW_AFTER`` into a regular attempt: move this thread to
        the slow lane if it has room (and let the regular lane start another)."""
        with self._lock:
            self._slow.add(key)
            if self._running[SLOW] >= self._size[SLOW]:
                return False
            self._running[REGULAR] -= 1
            self._running[SLOW] += 1
            me.slow = SLOW
            self._start_or_wake(REGULAR)
            return True
