"""Spin key-value stores on SQLite: access rules, persistence, atomic writes, and a guest."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from omniwasm import Err, Variant
from omniwasm.gateway import _kv
from omniwasm.gateway._kv import KeyValueAccess, KeyValueDatabase, Store


def case_of(info: pytest.ExceptionInfo[Err]) -> str:
    """The case name of the key-value error a call raised."""
    value = info.value.value
    assert isinstance(value, Variant)
    return value.case


@pytest.fixture
def db(tmp_path: Path) -> KeyValueDatabase:
    """A fresh database file."""
    return KeyValueDatabase(tmp_path / "kv" / "data.sqlite")


def test_set_get_exists_delete_and_keys(db: KeyValueDatabase) -> None:
    """The store methods behave as Spin's key-value interface says."""
    store = Store.open_with(KeyValueAccess(db, ["default"]), "default")
    assert store.get("a") is None
    assert store.exists("a") is False
    store.set("b", b"2")
    store.set("a", b"1")
    store.set("a", b"one")
    assert store.get("a") == b"one"
    assert store.exists("a") is True
    assert store.get_keys() == ["a", "b"]
    store.delete("a")
    store.delete("missing")
    assert store.get_keys() == ["b"]


def test_labels_are_separate_namespaces(db: KeyValueDatabase) -> None:
    """Two labels of one app never see each other's keys."""
    access = KeyValueAccess(db, ["default", "cache"])
    Store.open_with(access, "default").set("k", b"d")
    Store.open_with(access, "cache").set("k", b"c")
    assert Store.open_with(access, "default").get("k") == b"d"
    assert Store.open_with(access, "cache").get("k") == b"c"


def test_access_rules(db: KeyValueDatabase) -> None:
    """An unlisted label of the app is access-denied; a label nobody lists is no-such-store."""
    access = KeyValueAccess(db, allowed=["default"], known=["secrets"])
    with pytest.raises(Err) as denied:
        Store.open_with(access, "secrets")
    assert case_of(denied) == "access-denied"
    with pytest.raises(Err) as unknown:
        Store.open_with(access, "nope")
    assert case_of(unknown) == "no-such-store"


def test_store_table_full_until_a_store_is_dropped(
    db: KeyValueDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond MAX_OPEN_STORES open stores, open fails with store-table-full; a drop frees one."""
    monkeypatch.setattr(_kv, "MAX_OPEN_STORES", 3)
    access = KeyValueAccess(db, ["default"])
    stores = [Store.open_with(access, "default") for _ in range(3)]
    with pytest.raises(Err) as full:
        Store.open_with(access, "default")
    assert case_of(full) == "store-table-full"
    stores[0].close()
    stores[0].close()  # a second close changes nothing
    Store.open_with(access, "default")


def test_data_persists_in_the_file(tmp_path: Path) -> None:
    """Values written through one database object are read by a new one on the same file."""
    path = tmp_path / "kv.sqlite"
    KeyValueDatabase(path).set("default", "k", b"v")
    assert KeyValueDatabase(path).get("default", "k") == b"v"


def test_concurrent_writers_in_threads_and_processes(tmp_path: Path) -> None:
    """Threads and another process writing the same file lose no write."""
    path = tmp_path / "kv.sqlite"
    db = KeyValueDatabase(path)
    script = (
        "import sys; from omniwasm.gateway._kv import KeyValueDatabase as D\n"
        "d = D(sys.argv[1])\n"
        "for i in range(200): d.set('default', f'p{i}', b'x')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)])

    def write(n: int) -> None:
        for i in range(200):
            db.set("default", f"t{n}-{i}", str(i).encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert proc.wait(timeout=60) == 0
    assert len(db.keys("default")) == 4 * 200 + 200


# ---- through the component model: a guest importing fermyon:spin/key-value@2.0.0 ----------


@pytest.fixture(scope="module")
def kv_guest() -> Path:
    """tests/fixtures/gateway/spin_kv.wat: put / fetch / keys over Spin's key-value."""
    from fixtures.wat_components import assemble

    return assemble(Path(__file__).parents[1] / "fixtures" / "gateway" / "spin_kv.wat")


def _guest(wasm: Path, access: KeyValueAccess) -> Any:
    from types import SimpleNamespace

    import omniwasm
    from omniwasm.gateway._app import _linker

    return omniwasm.Runtime().instantiate(
        wasm, imports=_linker(), host_data=SimpleNamespace(key_value=access)
    )


def test_a_guest_sets_gets_and_lists_through_the_interface(
    kv_guest: Path, db: KeyValueDatabase
) -> None:
    """The guest's put, get and get-keys reach the app's store and come back typed."""
    with _guest(kv_guest, KeyValueAccess(db, ["default"])) as guest:
        assert guest.call("put", "default", "a", b"hello") is None
        assert guest.call("fetch", "default", "a") == b"hello"
        assert guest.call("fetch", "default", "missing") is None
        assert guest.call("keys", "default") == 1
    with _guest(kv_guest, KeyValueAccess(db, ["default"])) as later:  # another instance
        assert later.call("fetch", "default", "a") == b"hello"


@pytest.mark.parametrize(
    ("label", "case_index"), [("cart", 2), ("nowhere", 1)]
)  # 2 access-denied: the app knows it, this component may not use it; 1 no-such-store
def test_a_guest_opening_a_store_it_may_not_use_gets_the_error(
    kv_guest: Path, db: KeyValueDatabase, label: str, case_index: int
) -> None:
    """open() of a label not granted to the component fails with Spin's error case."""
    guest = _guest(kv_guest, KeyValueAccess(db, ["default"], known=["cart"]))
    with guest, pytest.raises(Err) as info:
        guest.call("put", label, "k", b"v")
    assert info.value.value == case_index
