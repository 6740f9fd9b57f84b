"""Event subscriptions (``/hub``) and which events each one receives.

A subscription is ``{id, callback, query}``, stored like customers. Its
``query`` uses the list filter syntax of ``GET /customer`` on the event
document (``eventType=CustomerCreateEvent``, ``event.customer.status=Approved``);
an empty query receives every event. The :meth:`Hub.observe` method is the
:class:`~sandbox.domain.customers.CustomerService` observer: it turns a stored
change into events and queues them for every matching subscription. It runs
under the store's lock, so queues are filled in the order changes were stored;
it only builds and queues, never waits on the network.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from sandbox.domain import query
from sandbox.domain.customers import Change
from sandbox.domain.validation import unknown_attributes, validate
from sandbox.errors import ApiError, bad_request, not_found
from sandbox.events.delivery import Dispatcher, redact
from sandbox.events.model import events_for
from sandbox.events.safety import CallbackPolicy, CallbackRefused, check_target, parse_callback
from sandbox.repository import Document, Repository

log = logging.getLogger("sandbox.hub")

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
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._repo = repository
        self._dispatcher = dispatcher
        self._policy = policy
        self._new_id = new_id
        # This hub is the table's only writer: a copy in memory spares the observer
        # a read of the store on every customer change. The store's own lock guards
        # it: the observer runs under that lock, so a lock of its own could deadlock.
        self._lock = repository.lock
        self._cache = {doc["id"]: doc for doc in repository.all()}

    def register(self, body: Any) -> Document:
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
        subscription: Document = {"id": self._new_id(), "callback": callback, "query": text}
        with self._lock:
            self._repo.insert(subscription)
            self._cache[subscription["id"]] = dict(subscription)
        log.info("subscription %s registered: %s %s", subscription["id"], redact(callback),
                 text)
        return subscription

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
        # After the 204 nothing more is sent, not even what was still queued.
        self._dispatcher.cancel(ident)
        log.info("subscription %s removed", ident)

    def subscriptions(self) -> list[Document]:
        with self._lock:
            return [dict(doc) for doc in self._cache.values()]

    def observe(self, change: Change) -> None:
        events = events_for(change)
        if not events:
            return
        for subscription in self.subscriptions():
            for event in events:
                if self._receives(subscription, event):
                    self._dispatcher.enqueue(subscription["id"], subscription["callback"], event)

    @staticmethod
    def _receives(subscription: Document, event: Document) -> bool:
        try:
            return event_matches(event, subscription.get("query"))
        except ApiError as exc:  # stored before the query syntax changed
            log.warning("subscription %s: query %r ignored: %s",
                        subscription.get("id"), subscription.get("query"), exc.message)
            return False
