"""Operator endpoints outside the TMF API: delivery attempts and received events.

``/admin/deliveries`` lists every delivery attempt (oldest first) and
``/admin/received-events`` every event the listener sink received; both take
the list filter syntax of ``GET /customer`` (``?outcome=failed``,
``?eventType=CustomerDeleteEvent``) and ``DELETE`` clears them (204).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from sandbox.api import notifications
from sandbox.domain import query
from sandbox.http import json_response

bp = Blueprint("admin", __name__)



def listing(records: list[dict[str, Any]]) -> Response:
    filters = query.parse_filters(request.args.items(multi=True))
    with query.regex_slot(query.uses_regex(filters)):
        found = [record for record in records if query.matches(record, filters)]
    headers = {"X-Total-Count": str(len(found)), "X-Result-Count": str(len(found))}
    return json_response(found, 200, headers)


@bp.get("/deliveries", strict_slashes=False)
def list_deliveries() -> Response:
    return listing(notifications().deliveries.all())


@bp.delete("/deliveries", strict_slashes=False)
def clear_deliveries() -> Response:
    notifications().deliveries.clear()
    return Response(status=204)


@bp.get("/received-events", strict_slashes=False)
def list_received_events() -> Response:
    return listing(notifications().received.all())


@bp.delete("/received-events", strict_slashes=False)
def clear_received_events() -> Response:
    notifications().received.clear()
    return Response(status=204)
