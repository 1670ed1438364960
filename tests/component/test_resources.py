"""Resources in real components: guest resources as handles, host resources as Python objects.

``resources_export.wat`` defines ``counter`` in the guest (its destructor counts drops, read
with ``drops()``); ``resources_import.wat`` uses a ``bucket`` the host implements, here with
the Python class :class:`Bucket`.
"""

from __future__ import annotations

import gc
import inspect
import pydoc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import omniwasm

COUNTER = "test:resources/counter"
STORE = "test:resources/host-store"


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for the module (no cache)."""
    return omniwasm.Runtime(cache=False)


@pytest.fixture(scope="module")
def counter_code(runtime: omniwasm.Runtime, wat_component: Callable[[str], Path]) -> Any:
    """resources_export.wat, compiled once."""
    return runtime.load(wat_component("resources_export"))


@pytest.fixture
def counter_inst(runtime: omniwasm.Runtime, counter_code: Any) -> Iterator[omniwasm.Instance]:
    """A fresh instance of the counter component."""
    with runtime.instantiate(counter_code) as inst:
        yield inst


@pytest.fixture
def api(counter_inst: omniwasm.Instance) -> Any:
    """The test:resources/counter interface of a fresh instance."""
    return counter_inst.exports.counter


# -- guest (exported) resources ------------------------------------------------------------


def test_constructor_returns_a_handle_with_methods(api: Any) -> None:
    """Calling the resource class runs the constructor; methods are attributes of the handle."""
    c = api.Counter(5)
    c.increment(2)
    assert c.value() == 7
    assert type(c).__name__ == "Counter"
    assert "owned" in repr(c)
    c.drop()


def test_function_returning_own_gives_a_handle(api: Any) -> None:
    """A free function returning own<counter> gives the same kind of handle."""
    c = api.make(10)
    assert type(c) is type(api.Counter(0))
    assert c.value() == 10


def test_free_function_takes_a_borrow(api: Any) -> None:
    """A handle passed as borrow<counter> stays usable afterwards."""
    c = api.Counter(3)
    assert api.read(c) == 3
    assert api.read(c) == 3
    c.increment(1)
    assert c.value() == 4


def test_static_function_is_an_attribute_of_the_class(api: Any) -> None:
    """A static (merge) is called on the resource class and returns a new owned handle."""
    a, b = api.Counter(2), api.make(40)
    merged = api.Counter.merge(a, b)
    assert merged.value() == 42
    assert (a.value(), b.value()) == (2, 40)
    assert api.drops() == 0


def test_consume_moves_ownership_into_the_guest(api: Any) -> None:
    """Passing own<counter> moves the handle: the guest drops it, the handle becomes unusable."""
    c = api.Counter(9)
    assert api.consume(c) == 9
    assert api.drops() == 1
    assert c.dropped
    with pytest.raises(omniwasm.ValueConversionError, match="moved into the guest") as info:
        c.value()
    assert info.value.param == "self"
    with pytest.raises(omniwasm.ValueConversionError, match="moved into the guest"):
        api.read(c)
    c.drop()  # a no-op: the guest already dropped it
    assert api.drops() == 1


def test_drop_runs_destructor_exactly_once(api: Any) -> None:
    """drop() runs the guest destructor once; dropping again is a no-op."""
    c = api.Counter(1)
    c.drop()
    assert api.drops() == 1
    c.drop()
    c.drop()
    assert api.drops() == 1
    assert "dropped" in repr(c)


def test_with_block_drops_the_handle(api: Any) -> None:
    """Leaving a with block drops the handle, even when the block raises."""
    with api.Counter(1) as c:
        assert c.value() == 1
    assert api.drops() == 1
    with pytest.raises(RuntimeError), api.Counter(2) as d:
        raise RuntimeError("leave early")
    assert api.drops() == 2
    assert c.dropped
    assert d.dropped


def test_dropped_handle_use_is_a_clear_error(api: Any) -> None:
    """Calling a method of a dropped handle names the function, parameter and the reason."""
    c = api.Counter(1)
    c.drop()
    with pytest.raises(omniwasm.ValueConversionError) as info:
        c.increment(1)
    err = info.value
    assert err.function == f"{COUNTER}#[method]counter.increment"
    assert "it was dropped" in str(err)
    assert isinstance(err, omniwasm.OmniwasmError)
    assert isinstance(err, TypeError)
    assert api.drops() == 1  # the failed call did not run anything


def test_handle_methods_carry_wit_signatures(api: Any) -> None:
    """A handle's method shows its WIT signature in help() and inspect.signature."""
    c = api.Counter(1)
    assert "[method]counter.increment: func(self: borrow<counter>, by: u32)" in pydoc.render_doc(
        c.increment
    )
    assert list(inspect.signature(type(c).increment).parameters) == ["self", "by"]
    assert "constructor" in (api.Counter.__doc__ or "")
    assert "merge" in (api.Counter.merge.__doc__ or "")


def test_resource_class_errors(api: Any) -> None:
    """An unknown static is an AttributeError; wrong constructor arguments name the parameter."""
    with pytest.raises(AttributeError, match="nope"):
        _ = api.Counter.nope
    with pytest.raises(omniwasm.ValueConversionError) as info:
        api.Counter(-1)
    assert (info.value.param, info.value.expected) == ("start", "u32")


def test_wrong_object_where_handle_expected(api: Any) -> None:
    """A non-handle where a borrow is expected is a conversion error, and nothing breaks."""
    with pytest.raises(omniwasm.ValueConversionError, match="counter resource handle"):
        api.read(5)
    with pytest.raises(omniwasm.ValueConversionError):
        api.read(None)
    assert api.read(api.Counter(4)) == 4


def test_handle_of_another_instance_is_refused(
    runtime: omniwasm.Runtime, counter_code: Any, api: Any
) -> None:
    """A handle from another instance is refused before the call; both instances go on."""
    with runtime.instantiate(counter_code) as other:
        foreign = other.exports.counter.Counter(3)
        with pytest.raises(omniwasm.ValueConversionError, match="another"):
            api.read(foreign)
        with pytest.raises(omniwasm.ValueConversionError, match="another"):
            api.consume(foreign)
        assert api.read(api.Counter(1)) == 1
        assert foreign.value() == 3
        assert other.exports.counter.read(foreign) == 3


def test_handle_of_a_closed_instance_errors_cleanly(
    runtime: omniwasm.Runtime, counter_code: Any, api: Any
) -> None:
    """Using a handle after its instance closed raises OmniwasmError; drop() is then a no-op."""
    other = runtime.instantiate(counter_code)
    c = other.exports.counter.Counter(3)
    other.close()
    with pytest.raises(omniwasm.OmniwasmError, match="closed"):
        c.value()
    with pytest.raises(omniwasm.ValueConversionError, match="closed"):
        api.read(c)
    c.drop()
    assert c.dropped
    assert api.drops() == 0


def test_unreferenced_handle_is_freed_without_running_the_destructor(api: Any) -> None:
    """A handle collected without drop() frees its native part; the guest keeps the resource."""
    c = api.Counter(8)
    del c
    gc.collect()
    assert api.drops() == 0
    assert api.make(1).value() == 1


def test_borrowed_handles_in_a_loop(api: Any) -> None:
    """Many borrows and drops in a row leave the counts exact."""
    handles = [api.Counter(i) for i in range(50)]
    assert sum(api.read(h) for h in handles) == sum(range(50))
    for h in handles:
        h.drop()
    assert api.drops() == 50


# -- host (imported) resources -------------------------------------------------------------


class Bucket:
    """A host resource: a named dict that records when the guest drops it."""

    closed: ClassVar[list[str]] = []
    made: ClassVar[list[Bucket]] = []

    def __init__(self, name: str) -> None:
        self._name = name
        self.data: dict[str, str] = {}
        self.calls: list[str] = []
        Bucket.made.append(self)

    def get(self, key: str) -> str | None:
        self.calls.append(f"get {key}")
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.calls.append(f"set {key}")
        self.data[key] = value

    def name(self) -> str:
        self.calls.append("name")
        return self._name

    @staticmethod
    def open(name: str) -> Bucket:
        return Bucket(f"opened:{name}")

    def close(self) -> None:
        Bucket.closed.append(self._name)


@pytest.fixture(scope="module")
def store_code(runtime: omniwasm.Runtime, wat_component: Callable[[str], Path]) -> Any:
    """resources_import.wat, compiled once."""
    return runtime.load(wat_component("resources_import"))


@pytest.fixture
def returned() -> list[Bucket]:
    """Buckets the guest handed back through the `close` import."""
    Bucket.closed = []
    Bucket.made = []
    return []


@pytest.fixture
def client(runtime: omniwasm.Runtime, store_code: Any, returned: list[Bucket]) -> Any:
    """The guest's client interface, linked to the Python Bucket class."""

    def close(b: Bucket) -> str:
        returned.append(b)
        return f"closed {b.name()}"

    linker = omniwasm.Linker().define(STORE, bucket=Bucket, close=close)
    return runtime.instantiate(store_code, imports=linker).exports.client


def test_guest_constructs_calls_and_drops_a_host_object(client: Any) -> None:
    """Constructor, methods and the guest's drop reach the Python object (close() runs once)."""
    assert client.use_bucket("b1", "k", "v") == "v"
    [bucket] = Bucket.made
    assert bucket.calls == ["set k", "get k"]
    assert bucket.data == {"k": "v"}
    assert Bucket.closed == ["b1"]


def test_static_returns_a_host_object_to_the_python_caller(client: Any) -> None:
    """An own<bucket> the guest returns comes back as the Python object itself, not closed."""
    b = client.open_bucket("x")
    assert isinstance(b, Bucket)
    assert b.name() == "opened:x"
    assert Bucket.closed == []


def test_host_object_passed_as_own_is_dropped_by_the_guest(client: Any) -> None:
    """A Python object passed as own<bucket> is used by the guest, which drops it (close())."""
    mine = Bucket("mine")
    assert client.take_bucket(mine) == "mine"
    assert mine.calls == ["name"]
    assert Bucket.closed == ["mine"]


def test_host_object_passed_as_borrow_stays_with_the_host(client: Any) -> None:
    """A Python object passed as borrow<bucket> is used by the guest and not closed."""
    peek = Bucket("peek")
    assert client.peek_bucket(peek) == "peek"
    assert client.peek_bucket(peek) == "peek"
    assert peek.calls == ["name", "name"]
    assert Bucket.closed == []


def test_close_import_returns_ownership_to_the_host(client: Any, returned: list[Bucket]) -> None:
    """Ownership passed back through the `close` import delivers the Python object; no close()."""
    assert client.close_bucket("cb") == "closed opened:cb"
    [b] = returned
    assert isinstance(b, Bucket)
    assert b is Bucket.made[0]
    assert Bucket.closed == []


def test_host_object_round_trip_through_own(client: Any) -> None:
    """An object the guest returned may be passed back as own and is then dropped by the guest."""
    b = client.open_bucket("again")
    assert client.take_bucket(b) == "opened:again"
    assert Bucket.closed == ["opened:again"]


@pytest.mark.parametrize("bad", ["a string", 5, None, object()])
def test_wrong_object_for_host_resource_is_refused(
    runtime: omniwasm.Runtime, store_code: Any, client: Any, bad: Any
) -> None:
    """Only instances of the class implementing the resource pass as it; nothing runs otherwise."""
    with pytest.raises(omniwasm.ValueConversionError) as info:
        client.take_bucket(bad)
    assert info.value.param == "b"
    assert "Bucket" in info.value.expected
    with pytest.raises(omniwasm.ValueConversionError):
        client.peek_bucket(bad)
    assert client.peek_bucket(Bucket("still fine")) == "still fine"


def test_resource_decorator(runtime: omniwasm.Runtime, store_code: Any) -> None:
    """@linker.resource names the resource after the class, or explicitly."""
    linker = omniwasm.Linker()

    @linker.resource(STORE, "bucket")
    class Named(Bucket):
        @staticmethod
        def open(name: str) -> Named:
            return Named(name)

    @linker.function(STORE)
    def close(b: Bucket) -> str:
        return "closed"

    inst = runtime.instantiate(store_code, imports=linker)
    assert inst.exports.client.take_bucket(Named("decorated")) == "decorated"
    assert isinstance(inst.exports.client.open_bucket("n"), Named)

    other = omniwasm.Linker().define(STORE, close=close)

    @other.resource(STORE)
    class Bucket2(Bucket):  # kebab of the class name: "bucket2" does not match "bucket"
        pass

    with pytest.raises(omniwasm.LinkError, match="bucket: resource"):
        runtime.instantiate(store_code, imports=other)


def test_host_function_returning_another_class_is_refused(
    runtime: omniwasm.Runtime, store_code: Any
) -> None:
    """A static returning an object that is not of the resource's class is a conversion error."""

    class Strict(Bucket):
        pass  # its inherited open() makes a plain Bucket

    linker = omniwasm.Linker().define(STORE, bucket=Strict, close=lambda b: "")
    inst = runtime.instantiate(store_code, imports=linker)
    with pytest.raises(omniwasm.HostFunctionError) as info:
        inst.exports.client.open_bucket("x")
    cause = info.value.__cause__
    assert isinstance(cause, omniwasm.ValueConversionError)
    assert cause.function == f"{STORE}#[static]bucket.open"
    assert "a Strict object" in cause.expected


def test_incomplete_resource_class_is_one_link_error(
    runtime: omniwasm.Runtime, store_code: Any
) -> None:
    """A class missing methods or with wrong arities is reported, each import once."""

    class Half:
        def __init__(self) -> None:  # the constructor takes a name
            pass

        def get(self, key: str) -> None:
            pass

        def set(self, key: str) -> None:  # set takes a key and a value
            pass

    linker = omniwasm.Linker().define(STORE, bucket=Half, close=lambda b: "")
    with pytest.raises(omniwasm.LinkError) as info:
        runtime.instantiate(store_code, imports=linker)
    names = [m.name for m in info.value.missing]
    assert sorted(names) == sorted(
        [
            "[constructor]bucket",
            "[method]bucket.set",
            "[method]bucket.name",
            "[static]bucket.open",
        ]
    )


def test_host_constructor_that_raises_is_a_host_function_error(
    runtime: omniwasm.Runtime, store_code: Any
) -> None:
    """A Python exception in the resource's constructor raises HostFunctionError naming it."""

    class Refuses(Bucket):
        def __init__(self, name: str) -> None:
            raise PermissionError(f"no bucket {name}")

    linker = omniwasm.Linker().define(STORE, bucket=Refuses, close=lambda b: "")
    inst = runtime.instantiate(store_code, imports=linker)
    with pytest.raises(omniwasm.HostFunctionError, match=r"\[constructor\]bucket") as info:
        inst.exports.client.use_bucket("b", "k", "v")
    assert isinstance(info.value.__cause__, PermissionError)


def test_close_hook_that_raises_is_a_host_function_error(
    runtime: omniwasm.Runtime, store_code: Any
) -> None:
    """A close() that raises when the guest drops the object becomes HostFunctionError."""

    class BadClose(Bucket):
        def close(self) -> None:
            raise OSError("disk gone")

    linker = omniwasm.Linker().define(STORE, bucket=BadClose, close=lambda b: "")
    inst = runtime.instantiate(store_code, imports=linker)
    with pytest.raises(omniwasm.HostFunctionError, match="resource-drop") as info:
        inst.exports.client.use_bucket("b", "k", "v")
    assert isinstance(info.value.__cause__, OSError)


def test_resource_without_close_method_is_fine(runtime: omniwasm.Runtime, store_code: Any) -> None:
    """A resource class without close() is simply forgotten when the guest drops it."""

    class Plain:
        def __init__(self, name: str) -> None:
            self.n = name

        def get(self, key: str) -> str | None:
            return None

        def set(self, key: str, value: str) -> None:
            pass

        def name(self) -> str:
            return self.n

        @classmethod
        def open(cls, name: str) -> Plain:
            return cls(name)

    linker = omniwasm.Linker().define(STORE, bucket=Plain, close=lambda b: b.n)
    inst = runtime.instantiate(store_code, imports=linker)
    assert inst.exports.client.use_bucket("p", "k", "v") is None
    assert inst.exports.client.close_bucket("q") == "q"


TWO_BORROWS_WAT = r"""(component
  (import "test:r/api" (instance $api
    (export "r" (type $r (sub resource)))
    (export "[constructor]r" (func (result (own $r))))
    (export "[method]r.pair"
      (func (param "self" (borrow $r)) (param "other" (borrow $r)) (result u32)))))
  (alias export $api "r" (type $r))
  (core func $new (canon lower (func $api "[constructor]r")))
  (core func $pair (canon lower (func $api "[method]r.pair")))
  (core func $drop (canon resource.drop $r))
  (core module $m
    (import "h" "new" (func $new (result i32)))
    (import "h" "pair" (func $pair (param i32 i32) (result i32)))
    (import "h" "drop" (func $drop (param i32)))
    (func (export "run") (result i32) (local $a i32) (local $b i32) (local $x i32)
      (local.set $a (call $new))
      (local.set $b (call $new))
      (local.set $x (i32.add (call $pair (local.get $a) (local.get $b))
                             (call $pair (local.get $a) (local.get $a))))
      (call $drop (local.get $a))
      (call $drop (local.get $b))
      (local.get $x)))
  (core instance $i (instantiate $m (with "h" (instance
    (export "new" (func $new)) (export "pair" (func $pair)) (export "drop" (func $drop))))))
  (func (export "run") (result u32) (canon lift (core func $i "run"))))"""


def test_host_import_taking_two_borrows(runtime: omniwasm.Runtime) -> None:
    """A host method with two borrowed handles (distinct or the same) gets both objects.

    wasmtime 50 traps on this ("deferred host scope has no call context") unless the engine
    turns component-model concurrency off, as omniwasm's does (wasi:filesystem's rename-at).
    """
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "wasm-tools"
    wasm = subprocess.run(
        [str(exe), "parse", "-o", "/dev/stdout"],
        input=TWO_BORROWS_WAT.encode(),
        capture_output=True,
        check=True,
    ).stdout

    class R:
        made: ClassVar[int] = 0

        def __init__(self) -> None:
            R.made += 1
            self.id = R.made

        def pair(self, other: R) -> int:
            return self.id * 10 + other.id

    linker = omniwasm.Linker(wasi=False).define("test:r/api", r=R)
    with runtime.instantiate(runtime.load(wasm), imports=linker) as inst:
        assert inst.call("run") == 12 + 11
