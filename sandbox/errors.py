"""The one error type of the sandbox and its TMF ``Error`` representation.

Domain code raises :class:`ApiError`; a single Flask handler (``sandbox.http``)
turns it, and every other failure, into the TMF630 ``Error`` JSON. This module
has no Flask import so query, patch and validation logic can raise it directly.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """A client-visible failure: an HTTP status plus the TMF ``Error`` fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or HTTPStatus(status).phrase
        self.code = code or str(status)
        self.headers = headers or {}

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "status": str(self.status),
            "@type": "Error",
        }

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r})"


def bad_request(message: str, *, reason: str = "Bad Request") -> ApiError:
    return ApiError(400, message, reason=reason)


def not_found(resource: str, ident: str) -> ApiError:
    return ApiError(404, f"No {resource} with id '{ident}'", reason="Resource not found")
