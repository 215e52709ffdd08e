"""Query results as typed values. Query modules read records into msgspec
Structs here, so that handlers see typed rows and never a string-keyed record."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeAlias, TypeVar

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

# What the query functions take: a connection of their own or a pooled one
# (the proxy is generic in the type stubs only).
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]
else:
    Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

S = TypeVar("S", bound=msgspec.Struct)


@functools.cache
def _columns(into: type[msgspec.Struct]) -> tuple[tuple[str, bool], ...]:
    """(column, is an integer field) for each field of ``into``."""
    return tuple((f.name, f.type is int) for f in msgspec.structs.fields(into))


def typed(into: type[S], record: asyncpg.Record) -> S:
    """``record`` as an ``into``: each field from the column of its name.
    Integer fields take sums as ints (PostgreSQL sums bigints as numeric)."""
    return into(**{name: int(record[name]) if whole else record[name] for name, whole in _columns(into)})


def all_typed(into: type[S], records: Iterable[asyncpg.Record]) -> list[S]:
    return [typed(into, record) for record in records]
