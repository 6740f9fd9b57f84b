"""The API versions the sandbox serves side by side, as data.

A version is where it answers (its prefixes: the first is canonical, the others
aliases), the published contract describing it, and the collection each
tenant's store keeps its customers in. Every request under a version's prefix
is that version's; tenants, keys, fault rules, the journal and the console
cover all versions alike. No Flask here: :mod:`sandbox.http` maps a request
path to its version.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.config import API_ALIAS_V5, API_PREFIX, API_PREFIX_V5


@dataclass(frozen=True)
class ApiVersion:
    """One TMF629 version: ``key`` (``v4``), ``number`` (``4.0.0``), where it answers,
    its published contract (a file of ``sandbox/openapi``) and its customer collection."""

    key: str
    number: str
    prefixes: tuple[str, ...]
    spec: str
    collection: str

    @property
    def prefix(self) -> str:
        """The canonical prefix (hrefs of a request under an alias use the alias)."""
        return self.prefixes[0]


V4 = ApiVersion("v4", "4.0.0", (API_PREFIX,), "TMF629-Customer-v4.0.0.swagger.json",
                "customer")
V5 = ApiVersion("v5", "5.0.1", (API_PREFIX_V5, API_ALIAS_V5),
                "TMF629-Customer_Management-v5.0.1.oas.json", "customer_v5")
VERSIONS: tuple[ApiVersion, ...] = (V4, V5)
#: Every prefix with its version, longest first (no prefix is another's start, but a
#: longest-first walk keeps that true of any added later).
PREFIXES: tuple[tuple[str, ApiVersion], ...] = tuple(sorted(
    ((prefix, version) for version in VERSIONS for prefix in version.prefixes),
    key=lambda pair: -len(pair[0])))


def prefix_of(path: str) -> tuple[str, ApiVersion] | None:
    """The API prefix ``path`` lies under, with its version; None outside every API."""
    for prefix, version in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix, version
    return None


def strip_prefix(url: str) -> str:
    """``url`` without a trailing API prefix (a ``--public-url`` may name one)."""
    for prefix, _ in PREFIXES:
        if url.endswith(prefix):
            return url[: -len(prefix)]
    return url
