"""What a backend keeps of one tenant besides its store: its hosted state.

The fault rules, the request journal and the delivery log of a tenant are
the operator's view of it, not the partner's data, so they live apart from
the tenant's store: beside a file store (rules in a JSON file, the rest in
memory: one process owns a file store), or in tables of PostgreSQL's
``public`` schema that every process sharing the database writes and reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.events.delivery import DeliveryLog
from sandbox.hosting.faults import MemoryRules, RuleStore
from sandbox.hosting.journal import JournalStore, MemoryJournal


@dataclass(frozen=True)
class HostedState:
    """One tenant's (name and generation) rules, journal and delivery log."""

    rules: RuleStore
    journal: JournalStore
    deliveries: DeliveryLog
    #: Removes what is kept beyond the tenant's store (the tenant is deleted).
    forget: Callable[[], None] = field(default=lambda: None)


def memory_state(journal_size: int) -> HostedState:
    """Hosted state that lasts as long as the process."""
    return HostedState(MemoryRules(), MemoryJournal(journal_size), DeliveryLog())
