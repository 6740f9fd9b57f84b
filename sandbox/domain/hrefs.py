"""The one ``href`` rule: where a stored document is, as one request sees it.

Stored documents carry no ``href``. A customer must resolve through whichever
host name, port or proxy the client came through, so its href is derived for
each request from that request's API root: the collection's URL, a slash, the
id (``<api root>/customer/<id>``). :func:`prefix` is everything before the id;
it is what a search gets as ``href_prefix``, so ``href`` is a virtual
attribute there too: a filter or sort key on it sees :func:`href_of` of the
document's id, and a path below it (``href.x``) reaches nothing, as text has
no members.

Whoever shows, finds or compares an href goes through here: the presentation
(``CustomerService.present``), the searches, the TinyDB scan and id look-ups,
and the SQL translator, which renders :func:`href_of` as ``prefix || id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The virtual attribute, and its path.
NAME = "href"
PATH = (NAME,)


def prefix(base_url: str, collection: str = "customer") -> str:
    """What every href of ``collection`` starts with, under the API root ``base_url``
    (no trailing slash)."""
    return f"{base_url}/{collection}/"


def href_of(prefix: str | None, ident: Any) -> str | None:
    """The href of the document whose id is ``ident``; None when there is none (no
    prefix: a search that was given none; an id that is not text)."""
    if prefix is None or not isinstance(ident, str):
        return None
    return prefix + ident


def id_of(prefix: str | None, href: str) -> str | None:
    """The id whose href is ``href`` (what :func:`href_of` undoes); None when no id has it."""
    if prefix is None or not href.startswith(prefix):
        return None
    return href[len(prefix):]


def under(path: Sequence[str]) -> bool:
    """Whether ``path`` starts at ``href``: the virtual attribute decides what it reaches."""
    return path[0] == NAME


def reachable(path: Sequence[str], prefix: str | None) -> bool:
    """Whether a path under ``href`` can reach a value: ``href`` itself, given a prefix."""
    return len(path) == 1 and prefix is not None


def values_at(path: Sequence[str], prefix: str | None, ident: Any) -> list[str]:
    """What a path under ``href`` reaches in the document whose id is ``ident``."""
    found = href_of(prefix, ident) if reachable(path, prefix) else None
    return [] if found is None else [found]
