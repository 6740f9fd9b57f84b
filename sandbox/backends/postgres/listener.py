"""One ``LISTEN`` connection per process, shared by everything that waits for a ``NOTIFY``.

A thread holds an autocommit connection and listens on every channel a
callback was registered for; each notification calls its channel's callbacks
with the payload, on that thread (so callbacks must only note or wake, never
wait). Notifications sent while nobody listens are lost, so a callback gets
``None`` ("resync: look for yourself") once its channel is listened on, and
again after every reconnect. A lost connection is made again with backoff
until :meth:`Listener.close`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger("sandbox.postgres")

#: A channel's callback: the notification's payload, or None after a (re)connect.
Callback = Callable[[str | None], None]
#: Seconds between looks at new channels and the stop flag while no notification comes.
POLL = 0.25
#: An idle connection is probed this often, so a silently dead one is noticed.
PROBE = 10.0
#: Reconnect waits: the first, doubled up to the last.
BACKOFF = (0.1, 5.0)


class Listener:
    """The listening connection of one process (see the module docstring)."""

    def __init__(self, url: str, *, application_name: str = "tmf629-sandbox listener",
                 connect_timeout: int = 5) -> None:
        self._url = url
        self._application_name = application_name
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._callbacks: dict[str, list[Callback]] = {}
        #: Registered since the running connection listened: LISTEN, then call with None.
        self._pending: list[tuple[str, Callback]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)
        self._thread.start()

    def listen(self, channel: str, callback: Callback) -> None:
        with self._lock:
            self._callbacks.setdefault(channel, []).append(callback)
            self._pending.append((channel, callback))

    def unlisten(self, channel: str, callback: Callback) -> None:
        """Forget ``callback`` (the channel stays listened on: cheap, and no race)."""
        with self._lock:
            callbacks = self._callbacks.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)
            self._pending = [p for p in self._pending if p != (channel, callback)]

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = BACKOFF[0]
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True,
                                     application_name=self._application_name,
                                     connect_timeout=self._connect_timeout) as conn:
                    with self._lock:
                        self._pending.clear()
                        everyone = [(channel, callback) for channel, callbacks
                                    in self._callbacks.items() for callback in callbacks]
                        channels = list(self._callbacks)
                    for channel in channels:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    delay = BACKOFF[0]
                    self._resync(everyone)
                    self._serve(conn)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    break
                log.warning("PostgreSQL listener: %s; reconnecting in %.1f s",
                            str(exc).strip(), delay)
            self._stop.wait(delay)
            delay = min(delay * 2, BACKOFF[1])

    def _serve(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        probed = time.monotonic()
        while not self._stop.is_set():
            for notice in conn.notifies(timeout=POLL):
                self._call(self._callbacks_of(notice.channel), notice.payload)
            with self._lock:
                fresh, self._pending = self._pending, []
            for channel in {channel for channel, _ in fresh}:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._resync(fresh)
            if time.monotonic() - probed > PROBE:
                conn.execute("SELECT 1")
                probed = time.monotonic()

    def _callbacks_of(self, channel: str) -> list[Callback]:
        with self._lock:
            return list(self._callbacks.get(channel, ()))

    def _resync(self, registered: list[tuple[str, Callback]]) -> None:
        for _, callback in registered:
            self._call([callback], None)

    @staticmethod
    def _call(callbacks: list[Callback], payload: str | None) -> None:
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # one faulty callback must not deafen the others
                log.exception("PostgreSQL listener callback failed")
