"""omniwasm's own component runtime, differentially against the stock backend.

Random values of every WIT type go through the same component on both backends (exports of
``types.wat``; host imports of ``imports.wat``) and must come back the same. Each run sends
``OMNIWASM_DIFF_EXAMPLES`` (100 by default) values per function: 5,046 in all over the 58
functions (hypothesis stops early where a type has fewer distinct values: bool, enum, flags,
a result without payloads); ``make test-diff-long`` sends many more.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omniwasm
from fixtures.toolchain import wasm_tools
from fixtures.wit_values import same, values_of
from omniwasm import MemoryLimitExceeded, OutOfFuel, Policy, PolicyError, Timeout, Trap
from omniwasm.types import FuncSig, InterfaceType

ECHO = "test:types/echo"
HOST = "test:types/host"
EXAMPLES = int(os.environ.get("OMNIWASM_DIFF_EXAMPLES", "100"))
DIFF = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def types_pair(wat_component: Callable[[str], Path]) -> tuple[Any, Any, list[FuncSig]]:
    """types.wat instantiated on both backends, with its echo functions."""
    path = wat_component("types")
    rt = omniwasm.Runtime(components="omniwasm")
    compiled = rt.load(path)
    own = rt.instantiate(compiled)
    stock = omniwasm.Runtime(components="stock").instantiate(path)
    iface = next(e for e in compiled.world.exports if isinstance(e, InterfaceType))
    echoes = [f for f in iface.funcs if f.name.startswith("echo-")]
    return own, stock, echoes


def _echo_names() -> list[str]:
    kinds = "bool s8 s16 s32 s64 u8 u16 u32 u64 f32 f64 char string string-utf16 string-latin1"
    kinds += " list-u8 list-u32 list-string list-point tuple point shape color perms"
    kinds += " option-string option-option-u32 result-string-string result-err-u32"
    kinds += " result-ok-u32 result-empty"
    return [f"echo-{k}" for k in kinds.split()]


@pytest.mark.parametrize("name", _echo_names())
def test_exports_agree_on_random_values(
    types_pair: tuple[Any, Any, list[FuncSig]], name: str
) -> None:
    """Random values of each WIT type echo through both backends to the same result."""
    own, stock, echoes = types_pair
    sig = next(f for f in echoes if f.name == name)
    own_fn = own.exports[ECHO][name]
    stock_fn = stock.exports[ECHO][name]

    @DIFF
    @given(st.data())
    def check(data: st.DataObject) -> None:
        value = data.draw(values_of(sig.params[0][1]))
        assert same(own_fn(value, raw=True), stock_fn(value, raw=True))

    check()


def test_one_mebibyte_of_bytes_round_trips(types_pair: tuple[Any, Any, list[FuncSig]]) -> None:
    """A 1 MiB list<u8> goes into the guest and back as bytes, unchanged."""
    own = types_pair[0]
    payload = os.urandom(1 << 20)
    assert own.exports[ECHO]["echo-list-u8"](payload) == payload


@pytest.fixture(scope="module")
def imports_pair(wat_component: Callable[[str], Path]) -> tuple[Any, Any, list[FuncSig]]:
    """imports.wat on both backends, its host imports the identity in Python."""
    path = wat_component("imports")
    out = []
    for backend in ("omniwasm", "stock"):
        rt = omniwasm.Runtime(components=backend)
        compiled = rt.load(path)
        iface = next(i for i in compiled.world.imports if i.name == HOST)
        assert isinstance(iface, InterfaceType)
        linker = omniwasm.Linker()
        echoes = {f.name: (lambda x: x) for f in iface.funcs if f.name.startswith("echo-")}
        linker.define(HOST, add=lambda a, b: a + b, noop=lambda: None, **echoes)
        linker.define("log", lambda msg: None)
        out.append(rt.instantiate(compiled, imports=linker))
    return out[0], out[1], [f for f in iface.funcs if f.name.startswith("echo-")]


@pytest.mark.parametrize(
    "name", [n for n in _echo_names() if "utf16" not in n and "latin1" not in n]
)
def test_host_imports_agree_on_random_values(
    imports_pair: tuple[Any, Any, list[FuncSig]], name: str
) -> None:
    """Random values reach a Python host import and come back the same on both backends."""
    own, stock, echoes = imports_pair
    sig = next(f for f in echoes if f.name == name)
    kind = name.removeprefix("echo-")
    own_fn = own.exports.roundtrip[f"roundtrip-{kind}"]
    stock_fn = stock.exports.roundtrip[f"roundtrip-{kind}"]

    @DIFF
    @given(st.data())
    def check(data: st.DataObject) -> None:
        value = data.draw(values_of(sig.params[0][1]))
        assert same(own_fn(value, raw=True), stock_fn(value, raw=True))

    check()


def test_the_backend_is_chosen_per_runtime(wat_component: Callable[[str], Path]) -> None:
    """components= picks the runtime; the instance says which one runs it."""
    path = wat_component("types")
    assert omniwasm.Runtime(components="omniwasm").instantiate(path).component_backend == "omniwasm"
    assert omniwasm.Runtime(components="stock").instantiate(path).component_backend == "stock"
    assert omniwasm.Runtime(components="auto").instantiate(path).component_backend == "omniwasm"


def test_auto_falls_back_to_stock_and_says_why(wat_component: Callable[[str], Path]) -> None:
    """Precompiled code (no component binary to run) goes to stock under auto, saying why."""
    blob = omniwasm.Runtime().compile(wat_component("types"))
    runtime = omniwasm.Runtime(components="auto")
    inst = runtime.instantiate(runtime.load(blob))
    assert inst.component_backend == "stock"
    assert "precompiled" in inst.component_fallback


def test_forcing_omniwasm_on_an_unsupported_component_is_a_policy_error(
    wat_component: Callable[[str], Path],
) -> None:
    """components='omniwasm' refuses what it cannot run, naming the reason."""
    blob = omniwasm.Runtime().compile(wat_component("types"))
    runtime = omniwasm.Runtime(components="omniwasm")
    with pytest.raises(PolicyError, match="precompiled"):
        runtime.instantiate(runtime.load(blob))


def test_resources_run_on_the_own_backend(wat_component: Callable[[str], Path]) -> None:
    """A guest resource and a host resource both run on omniwasm's runtime under auto."""
    runtime = omniwasm.Runtime(components="auto")
    inst = runtime.instantiate(wat_component("resources_export"))
    assert inst.component_backend == "omniwasm"
    api = inst.exports["test:resources/counter"]
    with api.Counter(2) as c:
        c.increment(3)
        assert api.read(c) == 5
    assert api.drops() == 1


def test_environment_chooses_the_default_backend(
    wat_component: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """OMNIWASM_COMPONENTS sets the default; an unknown name is a PolicyError."""
    monkeypatch.setenv("OMNIWASM_COMPONENTS", "omniwasm")
    assert omniwasm.Runtime().instantiate(wat_component("types")).component_backend == "omniwasm"
    monkeypatch.setenv("OMNIWASM_COMPONENTS", "fast")
    with pytest.raises(PolicyError, match="unknown component backend"):
        omniwasm.Runtime()


def test_the_default_backend_is_auto(
    wat_component: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without OMNIWASM_COMPONENTS a runtime picks auto: own where it can run the component."""
    monkeypatch.delenv("OMNIWASM_COMPONENTS", raising=False)
    rt = omniwasm.Runtime()
    assert rt.components == "auto"
    assert rt.instantiate(wat_component("types")).component_backend == "omniwasm"


def test_an_empty_environment_variable_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """OMNIWASM_COMPONENTS set but empty (``OMNIWASM_COMPONENTS= cmd``) means auto, not an error."""
    monkeypatch.setenv("OMNIWASM_COMPONENTS", "")
    assert omniwasm.Runtime().components == "auto"
    with pytest.raises(PolicyError, match="unknown component backend"):
        omniwasm.Runtime(components="")


def test_invalid_utf8_from_the_guest_is_a_trap_and_poisons(
    wat_component: Callable[[str], Path],
) -> None:
    """A guest returning bad UTF-8 traps; the instance cannot be entered again."""
    inst = omniwasm.Runtime(components="omniwasm").instantiate(wat_component("types"))
    with pytest.raises(Trap, match="utf-8"):
        inst.exports[ECHO]["bad-string"]()
    with pytest.raises(omniwasm.ExecutionError, match="cannot be entered again"):
        inst.exports[ECHO]["add"](1, 2)


def test_memory_hog_hits_max_memory(wat_component: Callable[[str], Path]) -> None:
    """A component growing memory past max_memory raises MemoryLimitExceeded, not a Trap."""
    inst = omniwasm.Runtime(components="omniwasm").instantiate(
        wat_component("types"), Policy(max_memory="2MiB")
    )
    with pytest.raises(MemoryLimitExceeded):
        inst.exports[ECHO]["hog"]()


def test_spinning_guest_hits_the_timeout(wat_component: Callable[[str], Path]) -> None:
    """An export that loops forever is stopped at the policy's timeout."""
    inst = omniwasm.Runtime(components="omniwasm").instantiate(
        wat_component("types"), Policy(timeout=0.2)
    )
    with pytest.raises(Timeout):
        inst.exports[ECHO]["spin"]()


def test_spinning_guest_runs_out_of_fuel(wat_component: Callable[[str], Path]) -> None:
    """An export that loops forever stops when its fuel runs out."""
    inst = omniwasm.Runtime(components="omniwasm", fuel=True).instantiate(
        wat_component("types"), Policy(fuel=100_000)
    )
    with pytest.raises(OutOfFuel):
        inst.exports[ECHO]["spin"]()


def test_host_exception_becomes_host_function_error(
    wat_component: Callable[[str], Path],
) -> None:
    """A Python host import that raises surfaces as HostFunctionError caused by it."""
    rt = omniwasm.Runtime(components="omniwasm")
    compiled = rt.load(wat_component("imports"))
    iface = next(i for i in compiled.world.imports if i.name == HOST)
    assert isinstance(iface, InterfaceType)
    linker = omniwasm.Linker()

    def boom(x: Any) -> Any:
        raise KeyError("nope")

    members = {f.name: boom for f in iface.funcs if f.name.startswith("echo-")}
    linker.define(HOST, add=lambda a, b: a + b, noop=lambda: None, **members)
    linker.define("log", lambda msg: None)
    inst = rt.instantiate(compiled, imports=linker)
    with pytest.raises(omniwasm.HostFunctionError) as info:
        inst.exports.roundtrip["roundtrip-u32"](1)
    assert isinstance(info.value.__cause__, KeyError)


def test_readme_backend_example_runs(
    wat_component: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's component-backends example runs and prints what its comments say."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Component backends", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"echo.wasm"', repr(str(wat_component("types"))))
    exec(compile(code, "README.md", "exec"), {"omniwasm": omniwasm})
    assert capsys.readouterr().out.split() == ["omniwasm", "True"]


def _imports_on_own(wat_component: Callable[[str], Path]) -> Any:
    """An own-runtime instance of the imports component, its host imports Python functions."""
    rt = omniwasm.Runtime(components="omniwasm")
    compiled = rt.load(wat_component("imports"))
    iface = next(i for i in compiled.world.imports if i.name == HOST)
    assert isinstance(iface, InterfaceType)
    linker = omniwasm.Linker()
    members = {f.name: (lambda x: x) for f in iface.funcs if f.name.startswith("echo-")}
    linker.define(HOST, add=lambda a, b: a + b, noop=lambda: None, **members)
    linker.define("log", lambda msg: None)
    return rt.instantiate(compiled, imports=linker)


def test_unclosed_instances_are_freed(wat_component: Callable[[str], Path]) -> None:
    """An instance with Python host imports is collected once unreferenced (no cycle via the store)."""
    import gc
    import weakref

    inst = _imports_on_own(wat_component)
    assert inst.exports.roundtrip["roundtrip-u32"](5) == 5
    ref = weakref.ref(inst._inner)
    del inst
    gc.collect()
    assert ref() is None


def test_store_is_freed_after_a_host_import_took_a_string(
    wat_component: Callable[[str], Path],
) -> None:
    """An unclosed instance whose guest called a string host import frees its store once dropped.

    The import's bound callback holds what holds the store (the canon options' realloc and
    memory view): it must not keep the store alive from the global callback table, where it
    was freed only at interpreter exit (and crashed the process there).
    """
    import gc
    import weakref

    inst = _imports_on_own(wat_component)
    assert inst.exports.roundtrip["roundtrip-string"]("hello") == "hello"
    assert inst.exports.roundtrip["roundtrip-list-u8"](b"\x00\x01") == b"\x00\x01"
    store = weakref.ref(inst._inner.box.store)
    del inst
    gc.collect()
    assert store() is None


MANY_WAT = """(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 64))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (global.set $bump (i32.add (global.get $bump) (local.get 3)))
      (i32.sub (global.get $bump) (local.get 3)))
    (func (export "many") (param $p i32) (result i32)
      (local $i i32) (local $acc i32)
      (block $done (loop $next
        (br_if $done (i32.eq (local.get $i) (i32.const 17)))
        (local.set $acc (i32.add (local.get $acc)
          (i32.mul (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
                   (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (local.get $acc)))
  (core instance $i (instantiate $m))
  (func (export "many")
    (param "a" u32) (param "b" u32) (param "c" u32) (param "d" u32) (param "e" u32)
    (param "f" u32) (param "g" u32) (param "h" u32) (param "i" u32) (param "j" u32)
    (param "k" u32) (param "l" u32) (param "m" u32) (param "n" u32) (param "o" u32)
    (param "p" u32) (param "q" u32) (result u32)
    (canon lift (core func $i "many") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc")))))"""


def test_more_than_sixteen_params_spill_into_memory(tmp_path: Path) -> None:
    """A function of 17 parameters gets them through memory, as on the stock backend."""
    src, out = tmp_path / "many.wat", tmp_path / "many.wasm"
    src.write_text(MANY_WAT)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    args = list(range(100, 117))
    want = sum(a * (i + 1) for i, a in enumerate(args))
    for backend in ("omniwasm", "stock"):
        inst = omniwasm.Runtime(components=backend).instantiate(out)
        assert inst.component_backend == backend
        assert inst.exports.many(*args) == want


HOSTILE_WAT = """(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "oob") (result i32)
      (i32.store (i32.const 16) (i32.const 0xfffffff0))
      (i32.store (i32.const 20) (i32.const 100))
      (i32.const 16))
    (func (export "disc") (result i32)
      (i32.store8 (i32.const 16) (i32.const 7))
      (i32.const 16))
    (func (export "char") (result i32) (i32.const 0xd800))
    (func (export "unaligned") (result i32) (i32.const 17)))
  (core instance $i (instantiate $m))
  (func (export "oob") (result string)
    (canon lift (core func $i "oob") (memory (core memory $i "memory"))))
  (func (export "disc") (result (option string))
    (canon lift (core func $i "disc") (memory (core memory $i "memory"))))
  (func (export "char") (result char) (canon lift (core func $i "char")))
  (func (export "unaligned") (result (tuple u64 u64))
    (canon lift (core func $i "unaligned") (memory (core memory $i "memory")))))"""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("oob", "out-of-bounds"),
        ("disc", "invalid discriminant"),
        ("char", "invalid char"),
        ("unaligned", "misaligned"),
    ],
)
def test_guest_breaking_the_abi_is_a_trap(tmp_path: Path, name: str, message: str) -> None:
    """Bad pointers, discriminants, chars and alignment from a guest are Traps, never crashes."""
    src, out = tmp_path / "hostile.wat", tmp_path / "hostile.wasm"
    src.write_text(HOSTILE_WAT)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    inst = omniwasm.Runtime(components="omniwasm").instantiate(out)
    with pytest.raises(Trap, match=message):
        inst.exports[name]()


WASI_RUNS = [
    ("hello", {}),
    ("args", {"args": ("one", "two words")}),
    ("env", {"env": (("KEY", "value"), ("EMPTY", ""))}),
    ("echo", {"stdin": b"line one\nline two\n"}),
    ("exitcode", {"args": ("3",)}),
]


@pytest.mark.parametrize(("name", "settings"), WASI_RUNS, ids=[n for n, _ in WASI_RUNS])
def test_c_guests_on_wasi_run_alike_on_both_backends(
    c_component: Callable[[str], Path], name: str, settings: dict[str, Any]
) -> None:
    """A C guest on WASI 0.2 runs the same on omniwasm's runtime (Python WASI) as on stock."""
    policy = omniwasm.Policy(**settings)
    own_rt = omniwasm.Runtime(components="omniwasm")
    with own_rt.instantiate(c_component(name), policy) as inst:
        assert inst.component_backend == "omniwasm"
    own = own_rt.run(c_component(name), policy)
    stock = omniwasm.Runtime(components="stock").run(c_component(name), policy)
    assert (own.exit_code, own.stdout, own.stderr) == (stock.exit_code, stock.stdout, stock.stderr)
    assert own.stdout or own.exit_code


def test_wasi_with_a_host_data_of_ones_own_falls_back(c_component: Callable[[str], Path]) -> None:
    """Native WASI plus an embedder's own host_data runs on stock under auto, saying why."""
    rt = omniwasm.Runtime(components="auto")
    inst = rt.instantiate(c_component("hello"), host_data={"mine": 1})
    assert inst.component_backend == "stock"
    assert "host_data" in inst.component_fallback


def test_instances_of_a_component_share_its_handle_classes(
    wat_component: Callable[[str], Path],
) -> None:
    """Guest resource handles from two instances of one component are of the same class."""
    rt = omniwasm.Runtime(components="omniwasm")
    code = rt.load(wat_component("resources_export"))
    with rt.instantiate(code) as first, rt.instantiate(code) as second:
        one = first.exports["test:resources/counter"].Counter(1)
        two = second.exports["test:resources/counter"].Counter(2)
        assert type(one) is type(two)
        assert two.value() == 2


def test_a_linker_lacking_an_import_fails_after_a_complete_one_ran(
    wat_component: Callable[[str], Path],
) -> None:
    """A linker that lacks an import is a LinkError even after the component ran with one that did not."""
    rt = omniwasm.Runtime(components="omniwasm")
    compiled = rt.load(wat_component("imports"))
    iface = next(i for i in compiled.world.imports if i.name == HOST)
    assert isinstance(iface, InterfaceType)
    members = {f.name: (lambda x: x) for f in iface.funcs if f.name.startswith("echo-")}
    complete = omniwasm.Linker().define(HOST, add=lambda a, b: a + b, noop=lambda: None, **members)
    complete.define("log", lambda msg: None)
    with rt.instantiate(compiled, imports=complete) as inst:
        assert inst.exports.roundtrip["roundtrip-u32"](5) == 5
    lacking = omniwasm.Linker().define(HOST, add=lambda a, b: a + b, noop=lambda: None, **members)
    with pytest.raises(omniwasm.LinkError) as info:
        rt.instantiate(compiled, imports=lacking)
    assert [(m.module, m.name) for m in info.value.missing] == [("log", "")]
    with pytest.raises(omniwasm.LinkError) as info:
        rt.instantiate(compiled)  # no linker at all
    assert ("log", "") in [(m.module, m.name) for m in info.value.missing]
    with rt.instantiate(compiled, imports=complete) as inst:  # the complete one still works
        assert inst.exports.roundtrip["roundtrip-u32"](7) == 7
