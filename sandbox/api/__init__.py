"""Flask blueprints, one per resource of the Customer Management API.

The accessors below hand views the services of the request's tenant
(:func:`sandbox.tenancy.current`), so no view knows about tenancy.
"""

from __future__ import annotations

from sandbox import tenancy
from sandbox.domain.customers import CustomerService
from sandbox.events import Notifications

CUSTOMERS = "sandbox.customers"


def customers() -> CustomerService:
    """The customer service of the request's tenant."""
    return tenancy.current().customers


def notifications() -> Notifications:
    """The notification parts of the request's tenant."""
    return tenancy.current().notifications
