"""Event subscriptions (``/hub``) and which events each one receives.

A subscription is ``{id, callback, query}``, stored like customers. Its
``query`` uses the list filter syntax of ``GET /customer`` on the event
document (``eventType=CustomerCreateEvent``, ``event.customer.status=Approved``);
an empty query receives every event. The :meth:`Hub.observe` method is the
:class:`~sandbox.domain.customers.CustomerService` observer. It runs under the
store's lock, so it only appends the change to a bounded queue (changes keep
the order they were stored in); one routing thread, outside the lock, turns
each change into events, matches them against every subscription's query
(regexes within their budget) and queues them for delivery. A create costs the
same with one subscription or a thousand. At most ``max_subscriptions`` exist
at once; one more is a 403.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from sandbox.domain import patterns, query
from sandbox.domain.customers import Change
from sandbox.domain.validation import unknown_attributes, validate
from sandbox.errors import ApiError, bad_request, not_found
from sandbox.events.delivery import Dispatcher
from sandbox.events.masking import redact
from sandbox.events.model import events_for
from sandbox.events.safety import CallbackPolicy, CallbackRefused, check_target, parse_callback
from sandbox.repository import Document, Repository

log = logging.getLogger("sandbox.hub")

#: Stored changes waiting to be routed; beyond, the oldest is dropped (and logged).
MAX_PENDING_CHANGES = 1000
#: How long routing waits for a regex evaluation slot held by requests.
ROUTING_SLOT_WAIT = 30.0

#: Members of a TMF630 v5 ``Hub_FVO`` that v4 does not know; accepted and ignored.
TOLERATED = frozenset({"@type", "@baseType", "@schemaLocation"})


def parse_query(text: str) -> tuple[query.Filter, ...]:
    """A subscription query as filters; ``ApiError`` 400 when it does not parse.

    Parsed afresh for each event, not cached: a parsed ``.regex`` filter
    carries its own time budget, which starts when it is parsed.
    """
    raw = text.strip().removeprefix("?")
    if not raw:
        return ()
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise bad_request(f"The query {text!r} is not of the form name=value&name=value",
                          reason="Invalid query") from None
    return tuple(query.parse_filters(pairs))


def event_matches(event: Mapping[str, Any], text: str | None) -> bool:
    """Whether a subscription with query ``text`` receives ``event``."""
    if not text:
        return True
    return query.matches(event, list(parse_query(text)))


class Hub:
    """Register, read and remove subscriptions; route events to the dispatcher."""

    def __init__(
        self,
        repository: Repository,
        dispatcher: Dispatcher,
        policy: CallbackPolicy,
        *,
        max_subscriptions: int = 100,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        build: Callable[[Change], list[Document]] = events_for,
    ) -> None:
        self._repo = repository
        #: The events of one change (the API version's envelope: ``model.events_for``).
        self.build = build
        self._dispatcher = dispatcher
        self._policy = policy
        self._new_id = new_id
        self.max_subscriptions = max_subscriptions
        #: (sequence, change): a subscription hears only of changes stored after it.
        self._changes: deque[tuple[int, Change]] = deque()
        self._sequence = 0
        self._since: dict[str, int] = {}
        self._routing = threading.Condition()
        self._router: threading.Thread | None = None
        self._closed = False
        # This hub is the table's only writer: a copy in memory spares the observer
        # a read of the store on every customer change. The store's own lock guards
        # it: the observer runs under that lock, so a lock of its own could deadlock.
        self._lock = repository.lock
        self._cache = {doc["id"]: doc for doc in repository.all()}

    def register(self, body: Any, ident: str | None = None) -> Document:
        """Store a subscription; ``ident`` keeps a restored one's id (else a new one)."""
        callback, text = self.check(body)
        subscription: Document = {"id": ident or self._new_id(), "callback": callback,
                                  "query": text}
        self._admit(subscription)
        log.info("subscription %s registered: %s %s", subscription["id"], redact(callback),
                 text)
        return subscription

    def check(self, body: Any) -> tuple[str, str]:
        """The callback and query of a valid ``EventSubscriptionInput``; 400 otherwise."""
        if not isinstance(body, dict):
            raise bad_request("The body must be a JSON object (an EventSubscriptionInput)")
        if "id" in body:
            raise bad_request("id must not be sent: the server assigns it",
                              reason="Server-owned attribute")
        unknown = [n for n in unknown_attributes("EventSubscriptionInput", body)
                   if n not in TOLERATED]
        if unknown:
            raise bad_request(f"Unknown attribute(s) for EventSubscriptionInput: "
                              f"{', '.join(unknown)}", reason="Unknown attribute")
        validate("EventSubscriptionInput", body)
        parts = parse_callback(body["callback"])
        callback = parts.geturl()
        text = body.get("query") or ""
        parse_query(text)  # refuse a query that could never be evaluated
        try:
            check_target(callback, self._policy)
        except CallbackRefused as exc:
            raise ApiError(400, f"The callback {callback} is not allowed: {exc}",
                           reason="Callback not allowed") from None
        return callback, text

    def _admit(self, subscription: Document) -> None:
        """Store ``subscription`` unless ``max_subscriptions`` exist (403)."""
        with self._lock:
            if len(self._cache) >= self.max_subscriptions:
                raise self.full()
            self._repo.insert(subscription)
            self._cache[subscription["id"]] = dict(subscription)
            self._since[subscription["id"]] = self._sequence

    def full(self) -> ApiError:
        return ApiError(403, f"This sandbox holds {self.max_subscriptions} subscriptions "
                        "already, its maximum; remove one first", reason="Too many subscriptions")

    def get(self, ident: str) -> Document:
        found = self._repo.get(ident)
        if found is None:
            raise not_found("subscription", ident)
        return found

    def unregister(self, ident: str) -> None:
        with self._lock:
            if self._repo.delete(ident) is None:
                raise not_found("subscription", ident)
            self._cache.pop(ident, None)
            self._since.pop(ident, None)
        # After the 204 nothing more is sent, not even what was still queued.
        self._dispatcher.cancel(ident)
        log.info("subscription %s removed", ident)

    def subscriptions(self) -> list[Document]:
        with self._lock:
            return [dict(doc) for doc in self._cache.values()]

    def observe(self, change: Change) -> None:
        """Queue ``change`` for routing; cheap, since it runs under the store's lock."""
        with self._routing:
            if self._closed:
                return
            if len(self._changes) >= MAX_PENDING_CHANGES:
                _, dropped = self._changes.popleft()
                log.warning("routing is behind: the %s change of %s is dropped", dropped.kind,
                            (dropped.after or dropped.before or {}).get("id"))
            self._sequence += 1
            self._changes.append((self._sequence, change))
            if self._router is None:
                self._router = threading.Thread(target=self._route_all, name="event-router",
                                                daemon=True)
                self._router.start()
            self._routing.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop routing: changes not yet routed are dropped."""
        with self._routing:
            self._closed = True
            self._changes.clear()
            router = self._router
            self._routing.notify_all()
        if router is not None and router is not threading.current_thread():
            router.join(timeout)

    def _route_all(self) -> None:
        while True:
            with self._routing:
                if not self._changes or self._closed:
                    self._router = None  # a later change starts a new router
                    return
                sequence, change = self._changes.popleft()
            try:
                self.route(change, sequence)
            except Exception:  # one bad change must not stop the events of the others
                log.exception("routing a %s change failed", change.kind)

    def route(self, change: Change, sequence: int | None = None) -> None:
        """Turn ``change`` into events and queue each for the subscriptions it matches
        (of those registered before the change was stored, when ``sequence`` says when)."""
        events = self.build(change)
        if not events:
            return
        with self._lock:
            subscriptions = [dict(doc) for ident, doc in self._cache.items()
                             if sequence is None or self._since.get(ident, 0) < sequence]
        self.dispatch(events, subscriptions, change.kind)

    def dispatch(self, events: list[Document], subscriptions: list[Document],
                 kind: str) -> None:
        """Queue each event for the subscriptions whose query it matches."""
        # Regex queries take an evaluation slot like a request does; the router may wait
        # for one (requests are turned away instead), so no event is lost to a busy server.
        regexes = any(".regex" in str(s.get("query") or "") for s in subscriptions)
        try:
            with patterns.slot(ROUTING_SLOT_WAIT) if regexes else contextlib.nullcontext():
                for subscription in subscriptions:
                    for event in events:
                        if self._receives(subscription, event):
                            self._dispatcher.enqueue(subscription["id"],
                                                     subscription["callback"], event)
        except patterns.PatternBusy:
            log.warning("no regex evaluation slot for %.0f s: the events of a %s change are "
                        "dropped", ROUTING_SLOT_WAIT, kind)

    @staticmethod
    def _receives(subscription: Document, event: Document) -> bool:
        try:
            return event_matches(event, subscription.get("query"))
        except ApiError as exc:  # stored before the query syntax changed
            log.warning("subscription %s: query %r ignored: %s",
                        subscription.get("id"), subscription.get("query"), exc.message)
            return False
