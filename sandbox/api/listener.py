"""The spec's client-side listener endpoints, as a sink for a partner's events.

``POST /listener/customerCreateEvent`` (and the three others) validates the
event against its schema (400 naming the problems), records it, and answers
201 with the record's summary: ``id`` (of the record), ``listener``,
``eventType``, ``eventId``, ``receivedAt`` and ``notes`` (what a consumer
would miss). The spec's 201 body, an ``EventSubscription``, has no meaning
for a received event, so the summary takes its place.
"""

from __future__ import annotations

from flask import Blueprint, Response

from sandbox.api import notifications
from sandbox.http import json_response, read_json

bp = Blueprint("listener", __name__)

SUMMARY = ("id", "listener", "eventType", "eventId", "receivedAt", "notes")


@bp.post("/listener/<name>", strict_slashes=False)
def receive_event(name: str) -> Response:
    record = notifications().received.receive(name, read_json())
    return json_response({key: record[key] for key in SUMMARY}, 201)
