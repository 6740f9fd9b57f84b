"""Flask blueprints, one per resource of the Customer Management API.

The accessors below hand views the app's services with their types, so the
``app.extensions`` keys live in one place.
"""

from __future__ import annotations

from flask import current_app

from sandbox.domain.customers import CustomerService
from sandbox.events import EXTENSION, Notifications

CUSTOMERS = "sandbox.customers"


def customers() -> CustomerService:
    service: CustomerService = current_app.extensions[CUSTOMERS]
    return service


def notifications() -> Notifications:
    hub: Notifications = current_app.extensions[EXTENSION]
    return hub
