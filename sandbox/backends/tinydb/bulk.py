"""Loading a snapshot into an empty table in one pass.

At start-up every document of the snapshot is decoded once (orjson) anyway, to
check it is an object; :class:`Filling` takes what every index needs from that
decoded document there and then: the id map entry, the keys of the equality
indexes and the raw values at the common token paths. Each key only gathers
doc ids in a list; one bitmap per key is built at the end (:meth:`finish`),
and each distinct raw value is typed once, not once per document. Adding the
same documents one by one (``TinyTable.load``, as a journal replay does) gives
the same indexes; ``check`` compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.backends.tinydb import postings
from sandbox.backends.tinydb.indexes import EqualityIndex
from sandbox.backends.tinydb.tokens import PathIndex, Raw


class Filling:
    """The rows, id map and indexes of one table, gathered from its snapshot."""

    def __init__(self, indexes: Sequence[EqualityIndex], paths: Sequence[PathIndex]) -> None:
        self.rows: dict[int, bytes] = {}
        self.ids: dict[str, int] = {}
        #: Documents whose doc id came again (a hand-edited file): applied one by one after.
        self.again: list[tuple[int, dict[str, Any], bytes]] = []
        self._equal: list[tuple[EqualityIndex, dict[str, postings.Held]]] = [
            (index, {}) for index in indexes]
        self._tokens: list[tuple[PathIndex, dict[Raw, postings.Held]]] = [
            (index, {}) for index in paths]

    def add(self, doc_id: int, doc: dict[str, Any], packed: bytes) -> None:
        """One document of the snapshot, as the table will store it (``packed``)."""
        if doc_id in self.rows:
            self.again.append((doc_id, doc, packed))
            return
        self.rows[doc_id] = packed
        ident = doc.get("id")
        if isinstance(ident, str):
            self.ids[ident] = doc_id
        for index, groups in self._equal:
            index.gather(doc_id, doc, groups)
        for path_index, raw in self._tokens:
            path_index.gather(doc_id, doc, raw)

    def finish(self) -> None:
        """Build every index's buckets from what was gathered."""
        for index, groups in self._equal:
            index.fill(groups)
        for path_index, raw in self._tokens:
            path_index.fill_gathered(raw)
        self._equal, self._tokens = [], []
