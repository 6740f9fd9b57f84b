"""Fault and latency injection: per-tenant rules and the Prism-style ``Prefer`` header.

A rule matches a method (or ``*``) and a path pattern (shell-style, relative
to the API root: ``/customer*``) and fires with a probability. Its action is
``status`` (an HTTP status with a TMF Error body), ``delay`` (fixed ``delayMs``
or a random one in ``[min, max]``) or ``drop`` (the connection is closed
without an answer). The first matching rule that fires wins.

The rules live in the backend's :class:`RuleStore` (a JSON file beside a file
store, a table every PostgreSQL process reads), so they outlive a restart and,
on PostgreSQL, fire in every process that serves the tenant.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.errors import ApiError, bad_request

log = logging.getLogger("sandbox.hosting")

ACTIONS = ("status", "delay", "drop")
METHODS = ("*", "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS")
_PREFER = re.compile(r"^\s*(code|delay)\s*=\s*\"?(\d{1,6})\"?\s*$", re.I)


@dataclass(frozen=True)
class Fault:
    """What to do to one request: answer ``status``, wait ``delay_ms``, or ``drop``."""

    action: str
    status: int | None = None
    delay_ms: int = 0
    rule: str | None = None

    def preference(self) -> str | None:
        """The ``Preference-Applied`` value (RFC 7240) of a fault a client asked for."""
        if self.rule:
            return None
        return f"code={self.status}" if self.action == "status" else f"delay={self.delay_ms}"

    def describe(self) -> str:
        origin = f"rule {self.rule}" if self.rule else "Prefer header"
        detail = {"status": f"status {self.status}", "delay": f"delay {self.delay_ms}ms",
                  "drop": "dropped connection"}[self.action]
        return f"{detail} ({origin})"


@dataclass(frozen=True)
class Rule:
    id: str
    method: str
    path: str
    probability: float
    action: str
    status: int | None
    delay: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "method": self.method, "path": self.path,
                                "probability": self.probability, "action": self.action}
        if self.action == "status":
            body["status"] = self.status
        if self.action == "delay":
            low, high = self.delay
            body["delayMs"] = low if low == high else [low, high]
        return body

    def applies(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise bad_request("status must be an HTTP error status, 400-599", reason="Invalid rule")
    return value


def _delay(value: Any, max_delay_ms: int) -> tuple[int, int]:
    pair = value if isinstance(value, list) and len(value) == 2 else [value, value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise bad_request("delayMs must be milliseconds or [min, max]", reason="Invalid rule")
    low, high = int(pair[0]), int(pair[1])
    if not 0 <= low <= high <= max_delay_ms:
        raise bad_request(f"delayMs must lie in 0-{max_delay_ms} with min <= max",
                          reason="Invalid rule")
    return low, high


def parse_rule(body: Any, max_delay_ms: int) -> Rule:
    """One rule from its JSON form; 400 naming the problem."""
    if not isinstance(body, dict):
        raise bad_request("A fault rule must be a JSON object", reason="Invalid rule")
    allowed = {"id", "method", "path", "probability", "action", "status", "delayMs", "tenant"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Unknown rule field(s): {', '.join(unknown)}", reason="Invalid rule")
    method = str(body.get("method", "*")).upper()
    if method not in METHODS:
        raise bad_request(f"method must be one of {', '.join(METHODS)}", reason="Invalid rule")
    path = body.get("path", "*")
    if not isinstance(path, str) or not 1 <= len(path) <= 200:
        raise bad_request("path must be a pattern of 1-200 characters", reason="Invalid rule")
    probability = body.get("probability", 1.0)
    if (isinstance(probability, bool) or not isinstance(probability, (int, float))
            or not 0 <= probability <= 1):
        raise bad_request("probability must be a number from 0 to 1", reason="Invalid rule")
    action = body.get("action")
    if action not in ACTIONS:
        raise bad_request(f"action must be one of {', '.join(ACTIONS)}", reason="Invalid rule")
    status = _status(body.get("status")) if action == "status" else None
    delay = _delay(body.get("delayMs"), max_delay_ms) if action == "delay" else (0, 0)
    ident = body.get("id") or str(uuid.uuid4())
    if not isinstance(ident, str) or len(ident) > 64:
        raise bad_request("id must be a string of at most 64 characters", reason="Invalid rule")
    return Rule(ident, method, path, float(probability), action, status, delay)


def parse_prefer(values: list[str], max_delay_ms: int) -> Fault | None:
    """The fault a ``Prefer: code=503`` / ``Prefer: delay=200`` header asks for."""
    for value in values:
        for part in value.split(","):
            found = _PREFER.match(part.split(";")[0])
            if not found:
                continue
            kind, number = found.group(1).lower(), int(found.group(2))
            if kind == "code":
                return Fault("status", status=_status(number))
            return Fault("delay", delay_ms=_delay(number, max_delay_ms)[0])
    return None


class RuleStore(Protocol):
    """Where one tenant's rules are kept, in their JSON form and order (the backend's)."""

    def load(self) -> list[dict[str, Any]] | None:
        """The kept rules, the same list object until they change; None: never kept."""
        ...

    def change(self, step: Callable[[list[dict[str, Any]] | None], list[dict[str, Any]]]
               ) -> list[dict[str, Any]]:
        """Replace the rules by ``step(kept)`` atomically; an exception changes nothing."""
        ...


class MemoryRules:
    """Rules kept as long as the process runs."""

    def __init__(self) -> None:
        self._rules: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def load(self) -> list[dict[str, Any]] | None:
        return self._rules

    def change(self, step: Callable[[list[dict[str, Any]] | None], list[dict[str, Any]]]
               ) -> list[dict[str, Any]]:
        with self._lock:
            rules = list(step(self._rules))
            self._keep(rules)
            self._rules = rules
            return rules

    def _keep(self, rules: list[dict[str, Any]]) -> None:
        """Where a subclass makes the new rules last (before anyone sees them)."""


class FaultRules:
    """One tenant's rules, in order, kept in a :class:`RuleStore`; thread-safe."""

    def __init__(self, store: RuleStore | None = None, max_rules: int = 50,
                 max_delay_ms: int = 10_000, chance: random.Random | None = None) -> None:
        self.store = store or MemoryRules()
        self.max_rules = max_rules
        self.max_delay_ms = max_delay_ms
        self._random = chance or random.Random()
        #: The kept list last parsed and its rules: a request parses nothing.
        self._parsed: tuple[object, list[Rule]] = (None, [])

    def start_with(self, bodies: list[Any]) -> None:
        """The rules of a ``--faults`` file: all checked, kept only if this tenant's rules
        were never kept (a restart keeps what the admin API changed since)."""
        rules = [parse_rule(body, self.max_delay_ms) for body in bodies]
        if len(rules) > self.max_rules:
            raise bad_request(f"A tenant holds at most {self.max_rules} fault rules",
                              reason="Too many rules")
        if rules and self.store.load() is None:
            self.store.change(lambda kept: [r.to_json() for r in rules] if kept is None
                              else kept)

    def add(self, body: Any) -> Rule:
        rule = parse_rule(body, self.max_delay_ms)

        def step(kept: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
            kept = kept or []
            if len(kept) >= self.max_rules:
                raise bad_request(f"A tenant holds at most {self.max_rules} fault rules",
                                  reason="Too many rules")
            if any(r.get("id") == rule.id for r in kept):
                raise bad_request(f"A rule with id {rule.id} exists", reason="Invalid rule")
            return [*kept, rule.to_json()]

        self.store.change(step)
        return rule

    def remove(self, ident: str) -> bool:
        found: list[bool] = []

        def step(kept: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
            left = [r for r in kept or [] if r.get("id") != ident]
            found.append(len(left) != len(kept or []))
            return left

        self.store.change(step)
        return found[-1]

    def clear(self) -> None:
        self.store.change(lambda kept: [])

    def all(self) -> list[Rule]:
        kept = self.store.load()
        seen, rules = self._parsed
        if kept is not seen:
            rules = []
            for body in kept or []:
                try:
                    rules.append(parse_rule(body, self.max_delay_ms))
                except ApiError as exc:  # kept under laxer limits than this start's
                    log.warning("fault rule %s not applied: %s", body.get("id"), exc.message)
            self._parsed = (kept, rules)
        return list(rules)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if a rule applies and its chance comes up."""
        for rule in self.all():
            if rule.applies(method, path) and self._random.random() < rule.probability:
                low, high = rule.delay
                return Fault(rule.action, status=rule.status,
                             delay_ms=self._random.randint(low, high), rule=rule.id)
        return None


def rules_for(data: Mapping[str, Any] | list[Any], tenant: str) -> list[Any]:
    """The rules of a ``--faults`` file meant for ``tenant`` (no ``tenant`` field: all)."""
    items = data.get("rules", []) if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise ValueError("a faults file holds a list of rules (or {\"rules\": [...]})")
    return [{k: v for k, v in item.items() if k != "tenant"} for item in items
            if isinstance(item, dict) and item.get("tenant", tenant) == tenant]
