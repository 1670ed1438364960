"""Key-value stores for gateway apps: Spin's ``fermyon:spin/key-value`` on an SQLite file.

An app has one SQLite database (``.omniwasm/kv.sqlite`` beside its manifest by default);
each store label (``"default"`` and any other the app names) is a namespace in it. A
component may open only the labels its manifest lists in ``key_value_stores`` (Spin's rule:
another label is ``access-denied``; a label no component of the app lists is
``no-such-store``). Every write is its own transaction and the database runs in WAL mode, so
concurrent requests (threads, or ``--workers`` processes) never see a half-written value and a
crash loses at most the write in flight.

The WIT (``fermyon:spin/key-value@2.0.0``)::

    resource store {
      open: static func(label: string) -> result<store, error>;
      get: func(key: string) -> result<option<list<u8>>, error>;
      set: func(key: string, value: list<u8>) -> result<_, error>;
      delete: func(key: string) -> result<_, error>;
      exists: func(key: string) -> result<bool, error>;
      get-keys: func() -> result<list<string>, error>;
    }
    variant error { store-table-full, no-such-store, access-denied, other(string) }
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._component import host_data
from .._wit.values import Err, Variant

__all__ = ["KV_INTERFACES", "KeyValueAccess", "KeyValueDatabase", "Store"]

MAX_OPEN_STORES = 64
"""Stores one instance may hold open at once (beyond: ``store-table-full``)."""

_SCHEMA = """CREATE TABLE IF NOT EXISTS kv (
  store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key)
) WITHOUT ROWID"""


class KeyValueDatabase:
    """One app's key-value data: an SQLite file shared by all its stores and requests.

    Args:
        path: the database file (created, with its directory, when missing); ``":memory:"``
            keeps everything in memory for this object's lifetime (tests).

    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        with self._connection() as conn:
            conn.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        if self.path == ":memory:":  # one connection, serialised: memory DBs are per connection
            if self._shared is None:
                self._shared = sqlite3.connect(":memory:", check_same_thread=False)
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock if self.path == ":memory:" else _NoLock():
            conn = self._connection()
            with conn:  # one transaction per statement: commit, or roll back on error
                return conn.execute(sql, args).fetchall()

    def get(self, store: str, key: str) -> bytes | None:
        """The value of ``key`` in ``store``, or None."""
        rows = self._run("SELECT value FROM kv WHERE store = ? AND key = ?", (store, key))
        return bytes(rows[0][0]) if rows else None

    def set(self, store: str, key: str, value: bytes) -> None:
        """Set ``key`` (replacing any value) atomically."""
        self._run(
            "INSERT INTO kv (store, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            (store, key, bytes(value)),
        )

    def delete(self, store: str, key: str) -> None:
        """Remove ``key`` (nothing happens when it is absent)."""
        self._run("DELETE FROM kv WHERE store = ? AND key = ?", (store, key))

    def keys(self, store: str) -> list[str]:
        """Every key of ``store``, sorted."""
        return [
            r[0] for r in self._run("SELECT key FROM kv WHERE store = ? ORDER BY key", (store,))
        ]


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class KeyValueAccess:
    """What one component instance may open: the app's database and its allowed labels.

    Args:
        database: the app's data.
        allowed: the labels this component lists in ``key_value_stores``.
        known: every label some component of the app lists (others are ``no-such-store``).

    """

    def __init__(
        self, database: KeyValueDatabase, allowed: Iterable[str], known: Iterable[str] = ()
    ) -> None:
        self.database = database
        self.allowed = frozenset(allowed)
        self.known = frozenset(known) | self.allowed | {"default"}
        self.open_count = 0


def _error(case: str, message: str | None = None) -> Err:
    return Err(Variant(case, message) if message is not None else Variant(case))


class Store:
    """``fermyon:spin/key-value.store``: one open store of an instance."""

    def __init__(self, access: KeyValueAccess, label: str) -> None:
        self._access = access
        self._label = label
        self._open = True

    @staticmethod
    def open(label: str) -> Store:
        """``open``: the store ``label``, if this component may use it."""
        access = getattr(host_data(), "key_value", None)
        if not isinstance(access, KeyValueAccess):
            raise _error("no-such-store")
        return Store.open_with(access, label)

    @staticmethod
    def open_with(access: KeyValueAccess, label: str) -> Store:
        """``open`` against an explicit access object (what ``open`` does per instance)."""
        if label not in access.known:
            raise _error("no-such-store")
        if label not in access.allowed:
            raise _error("access-denied")
        if access.open_count >= MAX_OPEN_STORES:
            raise _error("store-table-full")
        access.open_count += 1
        return Store(access, label)

    def _db(self) -> KeyValueDatabase:
        return self._access.database

    def get(self, key: str) -> bytes | None:
        """``get``: the value, or None (``ok(none)``) when the key is absent."""
        try:
            return self._db().get(self._label, key)
        except sqlite3.Error as exc:
            raise _error("other", str(exc)) from None

    def set(self, key: str, value: bytes) -> None:
        """``set``."""
        try:
            self._db().set(self._label, key, bytes(value))
        except sqlite3.Error as exc:
            raise _error("other", str(exc)) from None

    def delete(self, key: str) -> None:
        """``delete``."""
        try:
            self._db().delete(self._label, key)
        except sqlite3.Error as exc:
            raise _error("other", str(exc)) from None

    def exists(self, key: str) -> bool:
        """``exists``."""
        return self.get(key) is not None

    def get_keys(self) -> list[str]:
        """``get-keys``."""
        try:
            return self._db().keys(self._label)
        except sqlite3.Error as exc:
            raise _error("other", str(exc)) from None

    def close(self) -> None:
        """Dropped by the guest: frees a slot in the instance's table of open stores."""
        if self._open:
            self._open = False
            self._access.open_count -= 1


KV_INTERFACES: dict[str, dict[str, Any]] = {"fermyon:spin/key-value": {"store": Store}}
"""Member definitions for ``Linker.define`` (any version of the interface)."""
