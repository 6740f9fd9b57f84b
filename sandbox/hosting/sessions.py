"""Console sign-in sessions: a random id in the browser, who signed in on the server.

The console cookie used to hold the partner's key or the admin token itself,
so anyone who read one cookie (a shared machine, a proxy log, a browser
extension) had the credential for good. Now the cookie holds only a random
session id; the server keeps what it stands for, forgets it after an idle
period or at sign-out, and holds a bounded number of them.

:class:`SessionStore` is the seam; :class:`MemorySessions` keeps them in this
process only (a sandbox behind a load balancer with several processes needs
sticky sessions for ``/console``, or a shared implementation).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Session:
    """Who signed in: a tenant's partner (by the digest of the key used) or the operator."""

    tenant: str | None = None
    key_digest: str | None = None

    @property
    def operator(self) -> bool:
        return self.tenant is None


class SessionStore(Protocol):
    def start(self, session: Session) -> str:
        """Keep ``session``; its new random id, the only thing the browser gets."""
        ...

    def find(self, ident: str) -> Session | None:
        """The live session ``ident`` stands for (its idle clock restarts), or None."""
        ...

    def end(self, ident: str) -> None:
        """Forget ``ident`` (unknown ids are ignored)."""
        ...


def _digest(ident: str) -> str:
    # Kept by digest: a dump of the server's memory holds no cookie anyone could replay.
    return hashlib.sha256(ident.encode()).hexdigest()


class MemorySessions:
    """At most ``most`` sessions, each ending ``idle_seconds`` after it was last used; when
    full, the least recently used one ends. Thread-safe."""

    def __init__(self, idle_seconds: float, most: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self.most = most
        self._clock = clock
        self._sessions: OrderedDict[str, tuple[Session, float]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, session: Session) -> str:
        ident, now = secrets.token_urlsafe(32), self._clock()
        with self._lock:
            # Kept in order of last use: the expired ones, then the least used, go first.
            while self._sessions and (len(self._sessions) >= self.most or now - next(
                    iter(self._sessions.values()))[1] >= self.idle_seconds):
                self._sessions.popitem(last=False)
            self._sessions[_digest(ident)] = (session, now)
        return ident

    def find(self, ident: str) -> Session | None:
        key, now = _digest(ident), self._clock()
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return None
            session, used = found
            if now - used >= self.idle_seconds:
                del self._sessions[key]
                return None
            self._sessions[key] = (session, now)
            self._sessions.move_to_end(key)
            return session

    def end(self, ident: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(ident), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
