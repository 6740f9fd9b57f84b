"""Flask blueprints, one per resource of the Customer Management API.

The accessors below hand views the services of the request's tenant
(:func:`sandbox.tenancy.current`), so no view knows about tenancy.
"""

from __future__ import annotations

from sandbox import tenancy
from sandbox.domain.customers import CustomerService
from sandbox.events import Notifications
from sandbox.hosting.tenant import Tenant
from sandbox.http import api_version
from sandbox.versions import V5

CUSTOMERS = "sandbox.customers"


def customers() -> CustomerService:
    """The customer service of the request's tenant, for the request's API version."""
    tenant = tenancy.current()
    if api_version() is V5:
        return _v5(tenant)[0]
    return tenant.customers


def notifications() -> Notifications:
    """The notification parts of the request's tenant, for the request's API version."""
    tenant = tenancy.current()
    if api_version() is V5:
        return _v5(tenant)[1]
    return tenant.notifications


def _v5(tenant: Tenant) -> tuple[CustomerService, Notifications]:
    # create_app builds every tenant with both versions; a tenant without is a bug.
    if tenant.customers_v5 is None or tenant.notifications_v5 is None:
        raise RuntimeError(f"tenant {tenant.name} was built without TMF629 v5")
    return tenant.customers_v5, tenant.notifications_v5
