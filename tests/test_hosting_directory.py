"""The tenant directory and the registry on it, from tables: which tenants are served,
what the admin API may change, and how a registry that shares its directory with another
process (a second registry here) catches up, never serving a stale generation's data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.app import build_tenant
from sandbox.backends import open_backend
from sandbox.backends.tinydb.hosted import FileDirectory, FileRules
from sandbox.config import Config
from sandbox.errors import ApiError
from sandbox.hosting import directory, faults
from sandbox.hosting.directory import Changes, Deletion, MemoryDirectory
from sandbox.hosting.registry import REFRESH_INTERVAL, Registry, View
from sandbox.hosting.tenants_file import TenantsFileError, TenantSpec, key_digest
from tests.conftest import wait_until

KEYS = {name: f"{name}-key-0123456789abcdef" for name in ("acme", "globex", "initech")}
FILE = [TenantSpec("acme", (KEYS["acme"],)), TenantSpec("globex", (KEYS["globex"],))]
GEN = "0123456789ab"


def made(name: str, generation: str = GEN, key: str | None = None) -> TenantSpec:
    """A tenant as the admin API keeps it: keys as digests, with a generation."""
    return TenantSpec(name, (), False, (key_digest(key or KEYS[name]),), generation)


@pytest.mark.parametrize("changes, served", [
    (Changes(), [("acme", ""), ("globex", "")]),
    (Changes((made("initech"),)), [("acme", ""), ("globex", ""), ("initech", GEN)]),
    (Changes(removed=frozenset({"globex"})), [("acme", "")]),
    # a file tenant deleted and made again: the new generation is served
    (Changes((made("acme"),), frozenset({"acme"})), [("globex", ""), ("acme", GEN)]),
    # what an older version kept for a name the file still serves: the file wins
    (Changes((made("acme"),)), [("acme", ""), ("globex", "")]),
])
def test_the_tenants_served(changes: Changes, served: list[tuple[str, str]]) -> None:
    assert [(s.name, s.generation) for s in directory.current(FILE, changes)] == served


@pytest.mark.parametrize("spec, before, status", [
    (made("initech"), Changes(), None),
    (made("acme"), Changes(), 409),  # the file's
    (made("initech"), Changes((made("initech", "ffffffffffff"),)), 409),
    (made("acme"), Changes(removed=frozenset({"acme"})), None),  # deleted: free again
    (made("initech", key=KEYS["globex"]), Changes(), 409),  # a key selects one tenant
    (made("initech"), Changes((made("x", key="x" * 20),)), 403),  # 3 of at most 3
])
def test_creating_checks_the_tenants_served_at_that_moment(
        spec: TenantSpec, before: Changes, status: int | None) -> None:
    step = directory.creating(FILE, spec, max_tenants=3)
    if status is None:
        assert step(before).created == (*before.created, spec)
        return
    with pytest.raises(ApiError) as refused:
        step(before)
    assert refused.value.status == status


@pytest.mark.parametrize("name, before, after", [
    ("globex", Changes(), Changes(removed=frozenset({"globex"}))),
    ("initech", Changes((made("initech"),)), Changes()),
    ("acme", Changes((made("acme"),), frozenset({"acme"})), Changes(removed=frozenset({"acme"}))),
])
def test_deleting_remembers_only_the_files_tenants(name: str, before: Changes,
                                                   after: Changes) -> None:
    deletion = Deletion(FILE, name)
    assert deletion(before) == after
    assert deletion.removed == {s.name: s for s in directory.current(FILE, before)}[name]


@pytest.mark.parametrize("name, generation", [("nobody", None), ("initech", "ffffffffffff")])
def test_deleting_an_unknown_tenant_or_generation_is_a_404(name: str,
                                                           generation: str | None) -> None:
    with pytest.raises(ApiError) as refused:
        Deletion(FILE, name, generation)(Changes((made("initech"),)))
    assert refused.value.status == 404


@pytest.mark.parametrize("data, problem", [
    ([], "JSON object"),
    ({"created": [{"name": "x", "keyHashes": ["nothex"]}]}, "sha256"),
    ({"created": [{"name": "x", "keyHashes": [key_digest("k")], "generation": "G"}]},
     "generation"),
    ({"created": [{"name": "x", "keyHashes": [key_digest("k")], "seed": "yes"}]}, "seed"),
    ({"created": [{"name": "Bad", "keyHashes": [key_digest("k")]}]}, "invalid"),
    ({"deleted": ["Bad"]}, "invalid"),
])
def test_kept_changes_are_checked(data: Any, problem: str) -> None:
    with pytest.raises(TenantsFileError, match=problem):
        directory.changes_from_json(data)


def test_the_kept_form_round_trips_and_reads_an_older_versions_clear_keys() -> None:
    old = {"created": [{"name": "legacy", "keys": [KEYS["initech"]], "seed": False}],
           "deleted": ["globex"]}
    changes = directory.changes_from_json(old)
    assert changes == Changes((TenantSpec("legacy", (), False, (key_digest(KEYS["initech"]),)),),
                              frozenset({"globex"}))
    kept = directory.changes_to_json(changes)
    assert KEYS["initech"] not in json.dumps(kept)
    assert directory.changes_from_json(kept) == changes
    fresh = Changes((made("initech"),))
    assert directory.changes_from_json(directory.changes_to_json(fresh)) == fresh


# -- the registry ---------------------------------------------------------------------------


class SharedDirectory(MemoryDirectory):
    """One directory for two registries (two processes); counts reads, hints on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.watchers: list[Callable[[], None]] = []

    def read(self) -> Changes:
        self.reads += 1
        return super().read()

    def watch(self, callback: Callable[[], None]) -> None:
        self.watchers.append(callback)

    def hint(self) -> None:
        for callback in self.watchers:
            callback()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def processes() -> Iterator[tuple[Registry, Registry, SharedDirectory, Clock]]:
    """Two registries on one directory (a memory store each tenant), with a clock to turn."""
    config = Config(db_path=":memory:", seed_file=None)
    backend = open_backend(config)
    shared, clock = SharedDirectory(), Clock()

    def registry() -> Registry:
        return Registry(lambda spec: build_tenant(config, backend, spec, [], True), list(FILE),
                        directory=shared, clock=clock)

    one, two = registry(), registry()
    yield one, two, shared, clock
    one.close()
    two.close()


def test_a_deleted_tenant_is_refused_here_at_once_and_there_after_a_hint_or_a_second(
        processes: tuple[Registry, Registry, SharedDirectory, Clock]) -> None:
    one, two, shared, clock = processes
    served = two.for_key(KEYS["globex"])
    assert served is not None and one.for_key(KEYS["globex"]) is not None
    one.delete("globex")
    assert one.for_key(KEYS["globex"]) is None and one.get("globex") is None
    assert two.for_key(KEYS["globex"]) is served  # no hint, within the second: not re-read
    clock.now += REFRESH_INTERVAL
    assert two.for_key(KEYS["globex"]) is None
    assert wait_until(lambda: not served.enter())  # retired there too, then closed
    assert two.names() == ["acme"]


def test_a_tenant_made_again_never_serves_the_old_generation(
        processes: tuple[Registry, Registry, SharedDirectory, Clock]) -> None:
    one, two, shared, clock = processes
    body = {"name": "initech", "keys": [KEYS["initech"]], "seed": False}
    first, _ = one.create(body)
    shared.hint()
    old = two.for_key(KEYS["initech"])
    assert old is not None and old.spec.generation == first.spec.generation
    old.customer_table.insert({"id": "old-1", "name": "Old owner's"})
    one.delete("initech")
    renewed = "initech-new-key-0123456789"
    second, _ = one.create({**body, "keys": [renewed]})
    assert second.spec.generation not in ("", first.spec.generation)
    # Not yet told: there the new key is unknown, and the old one still the old store's.
    assert two.for_key(renewed) is None
    shared.hint()
    assert two.for_key(KEYS["initech"]) is None
    found = two.for_key(renewed)
    assert found is not None and found.spec.generation == second.spec.generation
    assert found.customer_table.count() == 0
    assert one.for_key(renewed) is second


def test_a_tenant_that_cannot_be_opened_is_not_left_in_the_directory(
        processes: tuple[Registry, Registry, SharedDirectory, Clock]) -> None:
    one, _, shared, _ = processes
    dropped: list[TenantSpec] = []

    def broken(spec: TenantSpec) -> Any:
        raise OSError("disk full")

    failing = Registry(broken, [], directory=shared, drop=dropped.append)
    with pytest.raises(OSError, match="disk full"):
        failing.create({"name": "initech", "seed": False})
    assert shared.read() == Changes() and [s.name for s in dropped] == ["initech"]
    assert one.names() == ["acme", "globex"]


@pytest.mark.parametrize("hinted, seconds, changed, reads", [
    (False, 0.0, True, 0),  # nothing said, checked just now: served as read
    (False, REFRESH_INTERVAL, False, 0),  # the cheap check finds the same version
    (False, REFRESH_INTERVAL, True, 1),  # ... or a new one, and reads
    (True, 0.0, False, 1),  # a hint reads at once
])
def test_the_registry_rereads_the_directory_on_a_hint_or_a_moved_version(
        processes: tuple[Registry, Registry, SharedDirectory, Clock], hinted: bool,
        seconds: float, changed: bool, reads: int) -> None:
    one, two, shared, clock = processes
    if changed:
        shared.update(directory.creating(FILE, made("initech"), 100))
    if hinted:
        shared.hint()
    clock.now += seconds
    before = shared.reads
    two.for_key(KEYS["acme"])
    assert shared.reads - before == reads
    assert ("initech" in two.names()) == bool(changed and reads)


def test_keys_select_their_tenant_and_generation() -> None:
    view = View.of(1, [FILE[0], made("initech")])
    assert view.match(key_digest(KEYS["acme"])) == FILE[0]
    found = view.match(key_digest(KEYS["initech"]))
    assert found is not None and found.generation == GEN
    assert view.match(key_digest("nobody-key-0123456789")) is None
    assert not view.serves(made("initech", "ffffffffffff"))


# -- fault rules and what a file store keeps ------------------------------------------------

@pytest.mark.parametrize("kept, given, expected", [
    (None, [{"id": "a", "action": "drop"}], ["a"]),  # first start: the file's rules
    ([], [{"id": "a", "action": "drop"}], []),  # all deleted since: they stay deleted
    ([{"id": "b", "action": "drop"}], [{"id": "a", "action": "drop"}], ["b"]),
    (None, [], None),  # nothing to start with: nothing kept yet
])
def test_a_faults_file_starts_a_tenants_rules_once(kept: list[dict[str, Any]] | None,
                                                  given: list[Any],
                                                  expected: list[str] | None) -> None:
    store = faults.MemoryRules()
    if kept is not None:
        store.change(lambda _: kept)
    faults.FaultRules(store).start_with(given)
    found = store.load()
    assert (None if found is None else [r["id"] for r in found]) == expected


def test_rules_are_changed_in_their_store() -> None:
    store = faults.MemoryRules()
    rules = faults.FaultRules(store, max_rules=2)
    rules.add({"id": "a", "action": "drop"})
    with pytest.raises(ApiError, match="exists"):
        rules.add({"id": "a", "action": "drop"})
    rules.add({"id": "b", "action": "status", "status": 503})
    with pytest.raises(ApiError, match="at most 2"):
        rules.add({"action": "drop"})
    assert rules.remove("a") and not rules.remove("a")
    assert [r["id"] for r in store.load() or []] == ["b"]
    assert [r.id for r in rules.all()] == ["b"]
    rules.clear()
    assert store.load() == [] and rules.all() == []


def test_a_file_store_keeps_its_directory_and_rules(tmp_path: Path) -> None:
    kept = FileDirectory(tmp_path / "t" / "_admin.json")
    kept.update(directory.creating(FILE, made("initech"), 100))
    assert FileDirectory(tmp_path / "t" / "_admin.json").read() == Changes((made("initech"),))
    rules = FileRules(tmp_path / "acme.json.faults")
    assert rules.load() is None
    faults.FaultRules(rules).add({"id": "slow", "action": "delay", "delayMs": 5})
    again = FileRules(tmp_path / "acme.json.faults").load()
    assert again is not None and [r["id"] for r in again] == ["slow"]
    (tmp_path / "bad.faults").write_text('{"rules": "none"}')
    with pytest.raises(TenantsFileError, match="kept fault rules"):
        FileRules(tmp_path / "bad.faults")
