"""The snapshot: the store as one TinyDB JSON document, replaced atomically.

The snapshot is exactly what ``tinydb.TinyDB(path)`` reads (``{table: {doc_id:
document}}``), so an older sandbox's store file opens unchanged and a
snapshot can still be inspected with TinyDB. It is written to a temporary file
in the same directory, flushed and fsynced, then renamed over the old one: at
any instant the path holds either the previous or the new document.

The tables hand over their documents already encoded (see
:mod:`sandbox.backends.tinydb.table`), so writing only joins bytes, a few hundred
documents at a time: a compaction runs in a background thread, and one
``json.dumps`` of a 150 MB store would hold the interpreter lock (and stall
every request) for seconds.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

#: Documents encoded per write: small enough to let request threads in between.
CHUNK = 256

FrozenTables = Sequence[tuple[str, Sequence[tuple[int, bytes]]]]


class StoreCorruptError(RuntimeError):
    """The store file or its journal exists but cannot be read as a store."""


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_HEAD = re.compile(rb'(?:\{|\}, )("(?:[^"\\]|\\.)*"): \{')
_DOC_LINE = re.compile(rb'"[0-9]+": \{')
_DOC_KEY = re.compile(r'"([0-9]+)"[ \t\n\r]*:[ \t\n\r]*')
_COMMA = re.compile(r'[ \t\n\r]*,[ \t\n\r]*(?=")')

#: Receives one stored document: (doc_id, document, its JSON as bytes).
Adder = Callable[[int, Any, bytes], None]


def _skip(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # matches empty too


def _expect(text: str, pos: int, char: str) -> int:
    pos = _skip(text, pos)
    if text[pos] != char:
        raise ValueError(f"expected {char!r} at character {pos}")
    return _skip(text, pos + 1)


def _key(text: str, pos: int) -> tuple[str, int]:
    """A member's name and where its value starts."""
    key, pos = _DECODER.raw_decode(text, pos)
    if not isinstance(key, str):
        raise ValueError(f"expected a member name before character {pos}")
    return key, _expect(text, pos, ":")


def _after_value(text: str, pos: int) -> int:
    """Past the ``,`` after a member, or at the ``}`` that closes the object."""
    comma = _COMMA.match(text, pos)
    if comma is not None:
        return comma.end()
    pos = _skip(text, pos)
    if text[pos] == "}":
        return pos
    pos = _expect(text, pos, ",")
    if text[pos] == "}":
        raise ValueError(f"a trailing comma before character {pos}")
    return pos


def _spans(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of every line, without copying them."""
    spans = []
    start = 0
    size = len(raw)
    while size and raw[size - 1] == 0x0A:  # rstrip(b"\n") without copying the store
        size -= 1
    while start <= size:
        end = raw.find(b"\n", start, size)
        end = size if end < 0 else end
        spans.append((start, end))
        start = end + 1
    return spans


def _line_shapes_hold(raw: bytes, spans: list[tuple[int, int]]) -> list[bool] | None:
    """Whether ``raw`` is a snapshot this module wrote: a header line per table,
    one document per line, commas between documents, ``}}`` at the end. The
    lines that are headers, or None for any other layout."""
    if len(spans) < 2 or raw[spans[-1][0]:spans[-1][1]] != b"}}" or not raw.startswith(b"{"):
        return None
    heads = [_HEAD.fullmatch(raw, *span) is not None for span in spans[:-1]]
    for number, (start, end) in enumerate(spans[:-1]):
        if heads[number]:
            if (number == 0) != (raw[start:start + 1] == b"{"):
                return None
            continue
        follows_doc = number + 1 < len(heads) and not heads[number + 1]
        if (number == 0 or not _DOC_LINE.match(raw, start, end)
                or not raw.endswith(b"}," if follows_doc else b"}", start, end)):
            return None
    return heads


def _load_lines(raw: bytes, table: Callable[[str], Adder]) -> bool:
    """The fast path for the layout :func:`write_snapshot` uses; False for any other."""
    spans = _spans(raw)
    heads = _line_shapes_hold(raw, spans)
    if heads is None:
        return False
    add: Adder | None = None
    loads = orjson.loads
    for (start, end), head in zip(spans, heads, strict=False):
        if head:
            match = _HEAD.fullmatch(raw, start, end)
            assert match is not None
            add = table(json.loads(match.group(1)))
            continue
        colon = raw.index(b": ", start, end)
        # Every document line but a table's last ends with a comma (checked above).
        data = raw[colon + 2:end - 1 if raw[end - 1] == 0x2C else end]
        doc = loads(data)
        if not isinstance(doc, dict) or add is None:
            raise ValueError(f"document {raw[start:colon].decode()} is not an object")
        add(int(raw[start + 1:colon - 1]), doc, data)
    return True


def snapshot_state(path: Path) -> Literal["missing", "empty", "present"]:
    """Whether the snapshot file is there and holds anything (the sandbox never writes an
    empty one; TinyDB reads an empty file as an empty store)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except FileNotFoundError:
        return "missing"
    return "present" if head.strip() or path.stat().st_size > len(head) else "empty"


def load_snapshot(path: Path, table: Callable[[str], Adder]) -> int:
    """Stream the snapshot's documents into ``table(name)``; returns the file's size.

    Documents are decoded one at a time and kept as the JSON text they were
    stored as, so a 150 MB store never exists as a 600 MB tree of dicts.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return 0
    size = len(raw)
    if not raw or raw.isspace():  # (strip() would copy the whole store to find out)
        return size
    try:
        if _load_lines(raw, table):
            return size
        text = raw.decode("utf-8")
        del raw
        pos = _expect(text, 0, "{")
        while text[pos] != "}":
            name, pos = _key(text, pos)
            add = table(name)
            pos = _expect(text, pos, "{")
            while text[pos] != "}":
                # The common case in one regular expression: "123": (start-up time).
                plain = _DOC_KEY.match(text, pos)
                key, pos = (plain.group(1), plain.end()) if plain else _key(text, pos)
                doc, end = _DECODER.raw_decode(text, pos)
                if not isinstance(doc, dict):
                    raise ValueError(f"document {key} is not an object")
                add(int(key), doc, orjson.dumps(doc))
                pos = _after_value(text, end)
            pos = _after_value(text, pos + 1)
        if _skip(text, pos + 1) != len(text):
            raise ValueError(f"data after the document, at character {pos + 1}")
    except json.JSONDecodeError as exc:
        raise StoreCorruptError(f"{path} is not valid JSON: {exc}") from exc
    except (ValueError, IndexError) as exc:  # IndexError: the text ends too early
        raise StoreCorruptError(f"{path} does not hold a TinyDB document: {exc}") from exc
    return size


def encode(doc: Any) -> str:
    """A document as stored: strict, compact JSON (no NaN), non-ASCII kept as is."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _chunks(tables: FrozenTables) -> Iterable[bytes]:
    # One document per line (compact JSON has no raw newline): the loader's fast path.
    if not tables:
        yield b"{}\n"
        return
    for number, (name, rows) in enumerate(tables):
        yield b"%s%s: {" % (b"\n}, " if number else b"{", json.dumps(name).encode())
        for start in range(0, len(rows), CHUNK):
            yield b"".join(b'%s\n"%d": %s' % (b"," if start + n else b"", doc_id, data)
                           for n, (doc_id, data) in enumerate(rows[start:start + CHUNK]))
    yield b"\n}}\n"


def write_snapshot(path: Path, tables: FrozenTables) -> None:
    """Replace the snapshot at ``path`` with ``tables``: (name, [(doc_id, JSON bytes)])."""
    write_atomically(path, _chunks(tables))


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace the file at ``path`` by ``chunks``: a crash leaves the old file or the new."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; keep the mode the file already had.
        os.chmod(tmp, _mode(path))
        with os.fdopen(fd, "wb") as handle:
            for data in chunks:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporary snapshot files a crashed run left beside ``path``."""
    removed = []
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (a power cut could undo it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
