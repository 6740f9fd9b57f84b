"""Hosting one sandbox for many partners: tenants, their keys, request journal and faults.

Nothing here imports Flask or a storage backend: :mod:`sandbox.tenancy` is the
HTTP face of these objects and ``sandbox.app`` opens each tenant's store.
"""
