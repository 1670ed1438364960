"""Bindgen: typed Python bindings generated for real components, type-checked and called."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import omniwasm
from omniwasm._bindgen import write as _bindgen
from omniwasm._wit import values as _values

SUMMARIZER_WIT = Path(__file__).parents[1] / "fixtures" / "python" / "summarizer" / "wit"
DOC = ("Wasm", "Wasm runs anywhere. Python embeds wasm with omniwasm. The end.", "en")


@pytest.fixture(autouse=True)
def restore_registered_classes(tmp_path: Path) -> Iterator[None]:
    """Undo the generated modules' use_class registrations and imports after each test.

    Only the generated modules (under tmp_path) are forgotten: omniwasm's own modules imported
    lazily during a test stay, or the next test would get a second copy of their classes.
    """
    saved = (dict(_values._RECORDS), dict(_values._ENUMS), dict(_values._ENUM_LOOKUP))
    modules, path = set(sys.modules), list(sys.path)
    yield
    for registry, copy in zip(
        (_values._RECORDS, _values._ENUMS, _values._ENUM_LOOKUP), saved, strict=True
    ):
        registry.clear()
        registry.update(copy)  # type: ignore[arg-type]
    for name in set(sys.modules) - modules:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
    sys.path[:] = path


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache per session, so each run only re-checks the new files."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture
def mypy(tmp_path: Path, mypy_cache: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``mypy --strict`` on paths under tmp_path; returns the finished process."""

    def run(*paths: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(mypy_cache), *paths]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)

    return run


def gen(source: Any, tmp_path: Path, pkg: str, world: str | None = None) -> Path:
    """Generate bindings into ``tmp_path/pkg`` and return the package directory."""
    return _bindgen.bindgen(source, tmp_path / pkg, world=world).parent


def load(pkg_dir: Path) -> ModuleType:
    """Import a generated package from its directory."""
    sys.path.insert(0, str(pkg_dir.parent))
    return importlib.import_module(pkg_dir.name)


@pytest.fixture
def types_pkg(wat_component: Callable[[str], Path], tmp_path: Path) -> ModuleType:
    """The bindings of the types fixture, imported."""
    return load(gen(wat_component("types"), tmp_path, "types_bindings", "types"))


@pytest.fixture
def rt() -> omniwasm.Runtime:
    """A default runtime."""
    return omniwasm.Runtime()


# -- the generated code type-checks ---------------------------------------------------------


def test_bindings_for_every_fixture_pass_mypy_strict(
    wat_component: Callable[[str], Path], tmp_path: Path, mypy: Callable[..., Any]
) -> None:
    """Bindings for every hand-written fixture and a WIT world pass ``mypy --strict``."""
    for name in ("types", "imports", "resources_export", "resources_import"):
        gen(wat_component(name), tmp_path, f"{name}_b", name)
    gen(SUMMARIZER_WIT, tmp_path, "summ_b", "summarizer-world")
    proc = mypy("types_b", "imports_b", "resources_export_b", "resources_import_b", "summ_b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues found in 5 source files" in proc.stdout


def test_bindings_pass_ruff(wat_component: Callable[[str], Path], tmp_path: Path) -> None:
    """Generated code passes ruff's default lint rules and is already ruff-formatted."""
    gen(wat_component("resources_import"), tmp_path, "ri_b", "ri")
    gen(wat_component("types"), tmp_path, "types_b", "types")
    ruff = [sys.executable, "-m", "ruff"]
    for cmd in (["check", "--isolated"], ["format", "--isolated", "--line-length=100", "--check"]):
        proc = subprocess.run(
            [*ruff, *cmd, str(tmp_path)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_rejects_wrong_calls_through_bindings(
    types_pkg: ModuleType, tmp_path: Path, mypy: Callable[..., Any]
) -> None:
    """A call with a wrong argument type or a misused result fails ``mypy --strict``."""
    (tmp_path / "user.py").write_text(
        textwrap.dedent("""
        import omniwasm
        from types_bindings import Point, TypesWorld

        def use(w: TypesWorld) -> None:
            w.echo.echo_point("not a point")
            name: str = w.echo.echo_point(Point(1, 2, "a"))
        """)
    )
    proc = mypy("user.py")
    assert proc.returncode == 1
    assert 'Argument 1 to "echo_point" of "Echo" has incompatible type "str"' in proc.stdout
    assert 'expression has type "Point", variable has type "str"' in proc.stdout


def test_awkward_wit_names_give_valid_bindings(tmp_path: Path, mypy: Callable[..., Any]) -> None:
    """Keywords, ``self``/``drop`` members and same-named interface/resource/records bind."""
    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "world.wit").write_text(
        textwrap.dedent("""
        package my:odd@0.1.0;
        interface class {
          record %from { %type: u8, %async: option<option<string>> }
          enum none { none, true, blue-ish }
          flags match { case, def }
          variant lambda { is(%from), empty }
          resource class {
            constructor(self: u32);
            %import: func(in: %from) -> none;
            drop: func() -> u8;
          }
          pass: func(self: string, raise: list<tuple<u8>>) -> result<lambda, match>;
        }
        interface other {
          record %from { x: u32 }
          get: func() -> %from;
        }
        world odd-world { export class; export other; }
        """)
    )
    pkg = gen(wit, tmp_path, "odd_b", "odd-world")
    proc = mypy("odd_b")
    assert proc.returncode == 0, proc.stdout + proc.stderr + pkg.joinpath("__init__.py").read_text()
    mod = load(pkg)
    assert {f.name for f in dataclasses.fields(mod.ClassFrom)} == {"type_", "async_"}
    assert [m.name for m in mod.None_] == ["NONE", "TRUE", "BLUE_ISH"]
    assert {"Class", "ClassClass", "ClassExports", "OddWorld"} <= set(mod.__all__)


# -- calling real components through the bindings -------------------------------------------


def test_records_return_as_generated_dataclasses(
    types_pkg: ModuleType, wat_component: Callable[[str], Path], rt: omniwasm.Runtime
) -> None:
    """A record result is an instance of the generated dataclass, also inside a list."""
    with types_pkg.TypesWorld.instantiate(rt, rt.load(wat_component("types"))) as w:
        point = w.echo.echo_point(types_pkg.Point(1, -2, "p"))
        assert type(point) is types_pkg.Point
        assert point == types_pkg.Point(1, -2, "p")
        assert w.echo.echo_list_point([point, point]) == [point, point]


def test_enums_return_as_generated_enums(
    types_pkg: ModuleType, wat_component: Callable[[str], Path], rt: omniwasm.Runtime
) -> None:
    """An enum result is a member of the generated Enum class."""
    with types_pkg.TypesWorld.instantiate(rt, rt.load(wat_component("types"))) as w:
        assert w.echo.echo_color(types_pkg.Color.BLUE_ISH) is types_pkg.Color.BLUE_ISH


def test_result_err_raises_err(
    types_pkg: ModuleType, wat_component: Callable[[str], Path], rt: omniwasm.Runtime
) -> None:
    """A typed method returning result<T, E> returns T and raises omniwasm.Err for err."""
    with types_pkg.TypesWorld.instantiate(rt, rt.load(wat_component("types"))) as w:
        assert w.echo.echo_result_string_string(omniwasm.Ok("fine")) == "fine"
        with pytest.raises(omniwasm.Err) as info:
            w.echo.echo_result_string_string(omniwasm.Err("bad"))
        assert info.value.value == "bad"


def test_wrong_component_is_a_clear_error(
    types_pkg: ModuleType, wat_component: Callable[[str], Path], rt: omniwasm.Runtime
) -> None:
    """Bindings used with a component lacking their interface raise OmniwasmError by name."""
    with pytest.raises(omniwasm.OmniwasmError, match="does not export 'test:types/echo'"):
        types_pkg.TypesWorld.instantiate(rt, rt.load(wat_component("resources_export")))


def test_guest_resource_through_typed_handles(
    wat_component: Callable[[str], Path], tmp_path: Path, rt: omniwasm.Runtime
) -> None:
    """An exported resource is constructed, called, merged statically and dropped once."""
    mod = load(gen(wat_component("resources_export"), tmp_path, "rx_b", "counters"))
    with mod.CountersWorld.instantiate(rt, rt.load(wat_component("resources_export"))) as w:
        with w.counter.Counter(5) as c:
            c.increment(2)
            assert (c.value(), w.counter.read(c)) == (7, 7)
            with w.counter.Counter.merge(c, w.counter.make(10)) as merged:
                assert merged.value() == 17
        assert c.dropped
        assert w.counter.drops() == 2


HOST_IMPL = """
from __future__ import annotations

import omniwasm
from ri_b import Bucket, HostStore, RiWorld


class MyBucket:
    def __init__(self, name: str) -> None:
        self.label = name
        self.data: dict[str, str] = {}
        self.closed = False

    @staticmethod
    def open(name: str) -> MyBucket:
        return MyBucket("opened-" + name)

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def name(self) -> str:
        return self.label

    def close(self) -> None:
        self.closed = True


class Store:
    bucket = MyBucket

    def close(self, b: Bucket) -> str:
        return "host got " + b.name()


def world(path: str) -> RiWorld:
    store: HostStore = Store()
    rt = omniwasm.Runtime()
    return RiWorld.instantiate(rt, rt.load(path), host_store=store)
"""


def test_host_implementation_type_checks_against_protocols(
    wat_component: Callable[[str], Path], tmp_path: Path, mypy: Callable[..., Any]
) -> None:
    """A host resource class and interface object written plainly satisfy the Protocols."""
    gen(wat_component("resources_import"), tmp_path, "ri_b", "ri")
    (tmp_path / "host_impl.py").write_text(HOST_IMPL)
    proc = mypy("host_impl.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_rejects_host_implementation_with_wrong_signature(
    wat_component: Callable[[str], Path], tmp_path: Path, mypy: Callable[..., Any]
) -> None:
    """A host method returning the wrong type does not satisfy the import Protocol."""
    gen(wat_component("resources_import"), tmp_path, "ri_b", "ri")
    good = 'def close(self, b: Bucket) -> str:\n        return "host got " + b.name()'
    bad = "def close(self, b: Bucket) -> int:\n        return len(b.name())"
    assert good in HOST_IMPL
    (tmp_path / "host_impl.py").write_text(HOST_IMPL.replace(good, bad))
    proc = mypy("host_impl.py")
    assert proc.returncode == 1
    assert (
        'Incompatible types in assignment (expression has type "Store", variable has type "HostStore")'
        in proc.stdout
    )


def test_host_implementation_serves_the_guest(
    wat_component: Callable[[str], Path], tmp_path: Path
) -> None:
    """The guest constructs, calls, opens statically and hands back Python host objects."""
    gen(wat_component("resources_import"), tmp_path, "ri_b", "ri")
    (tmp_path / "host_impl.py").write_text(HOST_IMPL)
    impl = load(tmp_path / "host_impl")
    with impl.world(str(wat_component("resources_import"))) as w:
        assert w.client.use_bucket("b", "k", "v") == "v"
        bucket = w.client.open_bucket("x")
        assert type(bucket) is impl.MyBucket
        assert w.client.peek_bucket(bucket) == "opened-x"
        assert w.client.take_bucket(bucket) == "opened-x"
        assert bucket.closed
        assert w.client.close_bucket("z") == "host got opened-z"


def test_world_level_import_and_export(
    wat_component: Callable[[str], Path], tmp_path: Path, rt: omniwasm.Runtime
) -> None:
    """A world-level import is a keyword callable; a world-level export is a world method."""
    mod = load(gen(wat_component("imports"), tmp_path, "imports_b", "imports"))

    class Echo:
        def add(self, a: int, b: int) -> int:
            return a + b

        def __getattr__(self, name: str) -> Any:
            return lambda *args: args[0] if args else None

    logged: list[str] = []
    compiled = rt.load(wat_component("imports"))
    with mod.ImportsWorld.instantiate(rt, compiled, host=Echo(), log=logged.append) as w:
        w.call_log("hello")
        assert logged == ["hello"]
        point = w.roundtrip.roundtrip_point(mod.Point(3, 4, "q"))
        assert type(point) is mod.Point
        assert w.roundtrip.roundtrip_add(2, 3) == 5


def test_summarizer_python_guest_through_bindings(
    summarizer_cwasm: Path, tmp_path: Path, rt: omniwasm.Runtime
) -> None:
    """Bindings from the summarizer's WIT call the componentize-py guest and return Summary."""
    mod = load(gen(SUMMARIZER_WIT, tmp_path, "summ_b", "summarizer-world"))
    with mod.SummarizerWorld.instantiate(rt, rt.load(summarizer_cwasm)) as w:
        summary = w.summarizer.summarize(mod.Document(*DOC), 5)
        assert type(summary) is mod.Summary
        assert summary.word_count == 10
        with pytest.raises(omniwasm.Err, match="empty document"):
            w.summarizer.summarize(mod.Document("t", " ", "en"), 5)


def test_hostres_python_guest_uses_typed_host_imports(
    hostres_cwasm: Path, tmp_path: Path, rt: omniwasm.Runtime
) -> None:
    """The componentize-py hostres guest runs against host imports given as typed keywords."""
    wit = SUMMARIZER_WIT.parents[1] / "hostres" / "wit"
    mod = load(gen(wit, tmp_path, "hostres_b", "hostres-world"))
    closed: list[str] = []

    class Bucket:
        def __init__(self, name: str) -> None:
            self.label, self.data = name, dict[str, str]()

        def get(self, key: str) -> str | None:
            return self.data.get(key)

        def set(self, key: str, value: str) -> None:
            self.data[key] = value

        def keys(self) -> list[str]:
            return list(self.data)

        def close(self) -> None:
            closed.append(self.label)

    class Kv:
        bucket = Bucket

        def open(self, name: str) -> Bucket:
            if name == "bad":
                raise omniwasm.Err("no bucket called bad")
            return Bucket(name)

    logs: list[tuple[int, str]] = []

    class Logger:
        def log(self, level: int, msg: str) -> None:
            logs.append((level, msg))

    compiled = rt.load(hostres_cwasm)
    with mod.HostresWorld.instantiate(rt, compiled, kv=Kv(), logger=Logger()) as w:
        assert w.app.run("main", [("b", "2"), ("a", "1")]) == ["a=1", "b=2"]
        with pytest.raises(omniwasm.Err, match="no bucket called bad"):
            w.app.run("bad", [])
    assert logs == [(1, "set b"), (1, "set a")]
    assert sorted(closed) == ["main", "main-copy"]


def block(text: str, header: str) -> str:
    """The top-level definition starting at ``header``, up to the next one."""
    lines = text.splitlines()
    start = lines.index(header)
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()),
        len(lines),
    )
    return "\n".join(lines[start:end])


def test_wit_and_component_give_the_same_bindings(summarizer_cwasm: Path, tmp_path: Path) -> None:
    """The WIT directory and the built component give the same summarizer types and class."""
    from_wit = gen(SUMMARIZER_WIT, tmp_path, "a", "summarizer-world") / "__init__.py"
    from_component = gen(summarizer_cwasm, tmp_path, "b", "summarizer-world") / "__init__.py"
    a, b = from_wit.read_text(), from_component.read_text()
    for header in ("class Document:", "class Summary:", "class Summarizer:"):
        assert block(a, header) == block(b, header)
    assert "def summarize(self, doc: Document, max_words: int) -> Summary:" in a


# -- inputs and errors ----------------------------------------------------------------------


def test_bindgen_writes_package_with_py_typed(types_pkg: ModuleType, tmp_path: Path) -> None:
    """The package holds __init__.py and a py.typed marker, and lists its names in __all__."""
    assert (tmp_path / "types_bindings" / "py.typed").exists()
    assert types_pkg.__all__ == sorted(types_pkg.__all__)
    assert {"Point", "Color", "Shape", "Perms", "Echo", "TypesWorld", "link"} <= set(
        types_pkg.__all__
    )


def test_component_from_wit_reports_bad_wit(tmp_path: Path) -> None:
    """Invalid WIT raises OmniwasmError carrying wasm-tools' message."""
    (tmp_path / "bad.wit").write_text("package a:b;\ninterface i { f: func() -> nope; }\n")
    with pytest.raises(omniwasm.OmniwasmError, match=r"cannot read WIT .*bad\.wit.*nope"):
        _bindgen.component_from_wit(tmp_path / "bad.wit")


def test_component_from_wit_unknown_world(tmp_path: Path) -> None:
    """A world name the package lacks raises OmniwasmError naming it."""
    with pytest.raises(omniwasm.OmniwasmError, match="World `nope` not found"):
        _bindgen.component_from_wit(SUMMARIZER_WIT, "nope")


def test_component_from_wit_without_wasm_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without wasm-tools, reading WIT raises OmniwasmError saying how to install it."""
    monkeypatch.setattr(_bindgen, "_wasm_tools", lambda: None)
    with pytest.raises(omniwasm.OmniwasmError, match=re.escape("pip install 'omniwasm[tools]'")):
        _bindgen.component_from_wit(SUMMARIZER_WIT, "summarizer-world")


def test_core_module_is_rejected(tmp_path: Path) -> None:
    """A core module has no world: bindgen raises InvalidModule."""
    wat = tmp_path / "core.wat"
    wat.write_text('(module (func (export "f")))')
    with pytest.raises(omniwasm.InvalidModule):
        _bindgen.bindgen(wat, tmp_path / "out")


def test_unwritable_output_is_omniwasm_error(types_pkg: ModuleType, tmp_path: Path) -> None:
    """An output path that is a file raises OmniwasmError, not a bare OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(omniwasm.OmniwasmError, match="cannot write bindings"):
        _bindgen.bindgen(SUMMARIZER_WIT, blocker / "pkg", world="summarizer-world")
