"""``omniwasm.toml``: an HTTP application manifest in the shape of Spin's ``spin.toml`` (v2).

A Spin user should feel at home: the same tables and keys mean the same things, and a
``spin.toml`` that uses only these keys loads as it is::

    spin_manifest_version = 2            # or: omniwasm_manifest_version = 1

    [application]
    name = "shop"
    version = "1.0.0"

    [[trigger.http]]
    route = "/cart/..."
    component = "cart"

    [component.cart]
    source = "cart.wasm"                               # relative to the manifest
    # or, as in Spin, a registry package (pulled, verified, pinned by omniwasm.lock):
    # source = { registry = "127.0.0.1:5000", package = "acme:cart", version = "1.2.0" }
    allowed_outbound_hosts = ["https://api.example.com"]
    environment = { MODE = "prod" }
    files = ["static/**/*", { source = "assets", destination = "/assets" }]  # read-only
    exclude_files = ["static/**/*.map"]
    key_value_stores = ["default"]
    variables = { greeting = "hello {{ name }}" }      # fermyon:spin/variables, wasi:config

    [component.cart.limits]                          # omniwasm's own (not in Spin)
    memory = "64MiB"
    timeout = "2s"
    fuel = 100000000
    output = "1MiB"                                  # kept of each guest output stream
    inference_time = "1s"                            # one wasi:nn compute

    [component.cart.models]                          # omniwasm's: wasi:nn load-by-name
    recommender = "models/recommender.onnx"          # relative to the manifest

    [variables]
    name = { default = "world" }

    [registry]                                       # omniwasm's: the registry mapping
    default_registry = "127.0.0.1:5000"              # (omniwasm.registry.config, wkg's keys)

Unknown keys are refused with the place they appear, so a typo never silently drops a
setting. Every component becomes a :class:`~omniwasm.Policy` (environment, read-only file
mounts, outbound hosts, limits) that the gateway applies to each request's instance.

Variables: application variables (``[variables]``) take their value from ``variables=``
(``omniwasm serve --var NAME=VALUE``), else their ``default``; one that is required and has
neither is an error at load. A component's ``variables`` are templates whose ``{{ name }}``
expressions name application variables; they are resolved at load, and the component reads
only its own (see :mod:`omniwasm.gateway._variables`). All names follow Spin's rules
(lower-case letters, digits and single underscores, starting with a letter); an invalid name,
an unmatched ``{{`` or an undeclared variable in a template is an error at load.

Models: ``[component.ID.models]`` names the ONNX models that component's guest may load by
name through ``wasi:nn`` (``name = "path"``, relative to the manifest); other components
and other files stay out of its reach. A model file missing at load is an error.

Files (see :mod:`omniwasm.gateway._files` for the glob rules): a string entry is a glob or a
path relative to the manifest, and the files it matches appear at the same relative path
under ``/``; ``{ source, destination }`` places a file or a directory at a guest path;
``exclude_files`` globs remove matches. Globbed and placed files are read when the app loads
into a read-only in-memory filesystem, so only matched files are exposed; a placed directory
with no ``exclude_files`` is instead mounted read-only as it is (a live view of the host
directory). A glob matching nothing is allowed (a warning is logged); a pattern or source
outside the application directory (``..``, an absolute path, a symlink leading out) is a
:class:`~omniwasm.PolicyError`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._compiled import is_reference
from .._errors import InvalidModule, PolicyError
from .._policy import Mount, Policy, parse_duration, parse_size
from ._files import STATE_DIR, FileSet, check_pattern, exclude_regex
from ._routes import Router
from ._variables import name_problem

__all__ = ["AppManifest", "ComponentSpec", "HttpTrigger", "load_app_manifest"]

_TOP = {"spin_manifest_version", "omniwasm_manifest_version", "application", "trigger",
        "component", "variables", "registry"}  # fmt: skip
_REGISTRY_SOURCE = {"registry", "package", "version"}
_APPLICATION = {"name", "version", "description", "authors", "trigger"}
_TRIGGER = {"route", "component", "executor", "id"}
_COMPONENT = {"source", "description", "allowed_outbound_hosts", "allowed_http_hosts",
              "environment", "files", "exclude_files", "key_value_stores", "variables",
              "build", "limits", "dependencies_inherit_configuration", "models"}  # fmt: skip
_LIMITS = {"memory", "timeout", "fuel", "output", "inference_time"}
_VARIABLE = {"default", "required", "secret"}
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class HttpTrigger:
    """``[[trigger.http]]``: a route and the component that serves it."""

    route: str
    component: str


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """``[component.ID]``: a component file and what it may use.

    Args:
        id: the component's id (kebab-case).
        source: the component file (absolute).
        policy: the sandbox for each instance (env, files, outbound hosts, limits).
        key_value_stores: names of the key-value stores it may open.
        variables: its configuration variables, templates resolved against the
            application's ``[variables]`` (what the guest reads through
            ``fermyon:spin/variables`` and ``wasi:config/store``).
        files: the files it sees in memory at ``/`` (globs, placed files, and placed
            directories when ``exclude_files`` applies), read each time it loads; None when
            there are none. Placed directories otherwise are read-only mounts in ``policy``.

    """

    id: str
    source: Path
    policy: Policy
    key_value_stores: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    files: FileSet | None = None


@dataclass(frozen=True, slots=True)
class AppManifest:
    """A loaded ``omniwasm.toml``.

    Args:
        name: the application's name.
        version: its version.
        triggers: the HTTP routes, as written.
        components: the components by id.
        path: the manifest file.

    """

    name: str
    version: str
    triggers: tuple[HttpTrigger, ...]
    components: Mapping[str, ComponentSpec]
    path: Path

    def router(self) -> Router[ComponentSpec]:
        """The routes, resolved to their components (Spin's matching rules)."""
        return Router((t.route, self.components[t.component]) for t in self.triggers)


def _check_keys(table: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PolicyError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    return table


def _table(table: Any, where: str) -> Mapping[str, Any]:
    """A table whose keys are names the user chooses (component ids, variables)."""
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where} must be a table")
    return table


def load_app_manifest(
    path: str | os.PathLike[str], *, variables: Mapping[str, str] | None = None
) -> AppManifest:
    """Read and check an ``omniwasm.toml`` (or a ``spin.toml`` using the same keys).

    Args:
        path: the manifest file.
        variables: values for application variables (override their defaults).

    Raises:
        InvalidModule: the manifest, or a component source it names, is missing or
            unreadable (as any missing WebAssembly input is).
        PolicyError: the file cannot be parsed, has unknown keys, a trigger names a
            missing component, a route is malformed or duplicated, a required variable has
            no value, a variable name or template is invalid, or a ``files`` entry is
            missing, malformed or leaves the app directory.

    """
    file = Path(path).resolve()
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError as exc:
        raise InvalidModule("file not found", source=str(file)) from exc
    except OSError as exc:
        raise InvalidModule(f"cannot read file: {exc.strerror}", source=str(file)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{file.name} is not valid TOML: {exc}") from exc
    _check_keys(data, _TOP, file.name)
    version = data.get("spin_manifest_version", data.get("omniwasm_manifest_version"))
    if "spin_manifest_version" in data and version != 2:
        raise PolicyError(f"spin_manifest_version {version!r}: only version 2 is supported")
    app = _check_keys(data.get("application", {}), _APPLICATION, "[application]")
    values = _variables(data.get("variables", {}), variables or {})
    base = file.parent
    components = {
        cid: _component(cid, spec, base, values, manifest=file)
        for cid, spec in _table(data.get("component", {}), "[component]").items()
    }
    triggers = _triggers(data.get("trigger", {}), components)
    manifest = AppManifest(
        name=str(app.get("name", file.parent.name)),
        version=str(app.get("version", "0.0.0")),
        triggers=triggers,
        components=components,
        path=file,
    )
    manifest.router()  # malformed or duplicated routes fail here, at load time
    return manifest


def _source_file(source: Any, manifest: Path, where: str) -> Path:
    """The component file: a path relative to the manifest, or a registry package.

    A package (``{ registry = "host", package = "ns:name", version = "1.0.0" }``, Spin's
    registry source; ``registry`` may be left to the ``[registry]`` mapping) is pulled into the
    verified local store through the manifest directory's mapping and lock file.
    """
    if isinstance(source, Mapping):
        table = _check_keys(source, _REGISTRY_SOURCE, f"{where}.source")
        package, version = table.get("package"), table.get("version")
        registry = table.get("registry")
        if not isinstance(package, str) or not isinstance(version, str):
            raise PolicyError(f"{where}.source needs package and version strings")
        if registry is not None and not isinstance(registry, str):
            raise PolicyError(f"{where}.source.registry must be a host string")
        from ..registry import Client, RegistryConfig

        # The environment's mapping, then this manifest's own [registry] table on top (it may
        # be a spin.toml, which from_environment does not read).
        config = RegistryConfig.from_environment(manifest.parent)
        config.merge(RegistryConfig.from_project(manifest))
        with Client.from_environment(manifest.parent, config=config) as client:
            pulled = client.pull(f"{package}@{version}", registry=registry)
            return client.store.verify(pulled.layer.digest, reference=pulled.requested)
    if not isinstance(source, str):
        raise PolicyError(f"{where} needs a source: a file, or a registry package table")
    file = (manifest.parent / source).resolve()
    if not file.is_file() and is_reference(source):
        from ..registry import fetch_path

        return fetch_path(source, project_dir=manifest.parent)
    if not file.is_file():
        # the same error as any missing WebAssembly input (`omniwasm run nope.wasm`)
        raise InvalidModule(f"{where}: source {source!r}: file not found", source=str(file))
    return file


def _variables(table: Any, given: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, raw in _table(table, "[variables]").items():
        problem = name_problem(name)
        if problem is not None:
            raise PolicyError(f"[variables] {name!r}: {problem}")
        spec = _check_keys(raw, _VARIABLE, f"[variables.{name}]")
        if name in given:
            out[name] = str(given[name])
        elif "default" in spec:
            out[name] = str(spec["default"])
        elif spec.get("required", True):
            raise PolicyError(f"application variable {name!r} is required and has no value")
    unknown = sorted(set(given) - set(out))
    if unknown:
        raise PolicyError(f"no application variable named {', '.join(unknown)}")
    return out


def _triggers(table: Any, components: Mapping[str, ComponentSpec]) -> tuple[HttpTrigger, ...]:
    table = _check_keys(table, {"http"}, "[trigger]")
    out = []
    for i, raw in enumerate(table.get("http", [])):
        item = _check_keys(raw, _TRIGGER, f"[[trigger.http]] #{i + 1}")
        route, component = item.get("route"), item.get("component")
        if not isinstance(route, str) or not isinstance(component, str):
            raise PolicyError(f"[[trigger.http]] #{i + 1} needs a route and a component id")
        if component not in components:
            raise PolicyError(
                f"route {route!r} names component {component!r}, which is not defined"
            )
        out.append(HttpTrigger(route, component))
    if not out:
        raise PolicyError("the manifest has no [[trigger.http]] route")
    return tuple(out)


def _component(
    cid: str, raw: Any, base: Path, values: Mapping[str, str], *, manifest: Path
) -> ComponentSpec:
    where = f"[component.{cid}]"
    if not _ID.match(cid):
        raise PolicyError(f"{where}: ids are lower-case kebab-case (like Spin's)")
    spec = _check_keys(raw, _COMPONENT, where)
    file = _source_file(spec.get("source"), manifest, where)
    hosts = [*spec.get("allowed_outbound_hosts", []), *spec.get("allowed_http_hosts", [])]
    env = spec.get("environment", {})
    if not isinstance(env, Mapping):
        raise PolicyError(f"{where}.environment must be a table of strings")
    limits = _check_keys(spec.get("limits", {}), _LIMITS, f"{where}.limits")
    mounts, files = _files(spec.get("files", []), spec.get("exclude_files", []), base, where)
    models = _models(spec.get("models", {}), base, where)
    try:
        policy = Policy(
            env=tuple((str(k), str(v)) for k, v in env.items()),
            dirs=mounts,
            allowed_hosts=tuple(str(h) for h in hosts),
            max_memory=parse_size(limits["memory"]) if "memory" in limits else None,
            timeout=parse_duration(limits["timeout"]) if "timeout" in limits else None,
            fuel=limits.get("fuel"),
            **({"max_output": limits["output"]} if "output" in limits else {}),
            models=tuple(models.items()),
            max_inference_time=limits.get("inference_time"),
        )
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from exc
    return ComponentSpec(
        id=cid,
        source=file,
        policy=policy,
        key_value_stores=tuple(str(s) for s in spec.get("key_value_stores", [])),
        variables=_component_variables(spec.get("variables", {}), values, where),
        files=files,
    )


def _models(table: Any, base: Path, where: str) -> dict[str, str]:
    """``[component.ID.models]``: model names and their files (absolute; they must exist)."""
    out = {}
    for name, path in _table(table, f"{where}.models").items():
        if not isinstance(path, str) or not path:
            raise PolicyError(f"{where}.models.{name} must be a file path")
        file = (base / path).resolve()
        if not file.is_file():
            raise PolicyError(f"{where}.models.{name}: model {path!r} not found ({file})")
        out[str(name)] = str(file)
    return out


def _component_variables(table: Any, values: Mapping[str, str], where: str) -> dict[str, str]:
    out = {}
    for name, template in _table(table, f"{where}.variables").items():
        problem = name_problem(name)
        if problem is not None:
            raise PolicyError(f"{where}.variables {name!r}: {problem}")
        out[name] = _resolve(str(template), values, f"{where}.variables.{name}")
    return out


def _files(
    items: Any, exclude: Any, base: Path, where: str
) -> tuple[tuple[Mount, ...], FileSet | None]:
    """Spin's ``files`` and ``exclude_files``: host mounts, and the files read into memory."""
    component, where = where, f"{where}.files"
    if not isinstance(items, list):
        raise PolicyError(f"{where} must be a list of globs and {{ source, destination }} tables")
    if not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
        raise PolicyError(f"{component}.exclude_files must be a list of globs")
    for pattern in exclude:
        exclude_regex(pattern, f"{component}.exclude_files")
    mounts: list[Mount] = []
    patterns: list[str] = []
    placements: list[tuple[str, str]] = []
    for raw in items:
        if isinstance(raw, str):
            check_pattern(raw, where)
            patterns.append(raw)
            continue
        item = _check_keys(raw, {"source", "destination"}, where)
        source, destination = item.get("source"), item.get("destination")
        if not isinstance(source, str) or not isinstance(destination, str):
            raise PolicyError(f"{where}: a table entry needs a source and a destination")
        guest = _guest_path(destination, where)
        if source.startswith(("/", "\\")):
            raise PolicyError(
                f"{where}: source {source!r} is absolute; it is relative to the manifest"
            )
        parts = [p for p in source.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PolicyError(f"{where}: source {source!r} leaves the application directory")
        rel = "/".join(parts)
        host = (base / rel).resolve()
        if not host.is_relative_to(base):
            raise PolicyError(f"{where}: {source!r} leads outside the application directory")
        if host.is_dir() and not exclude and not (base / STATE_DIR).is_relative_to(host):
            mounts.append(Mount(str(host), guest, read_only=True))
        elif host.exists():
            placements.append((rel, guest))
        else:
            raise PolicyError(f"{where}: source {source!r} does not exist")
    if not patterns and not placements:
        return tuple(mounts), None
    files = FileSet(base, tuple(patterns), tuple(placements), tuple(exclude), where=component)
    files.collect()  # a missing path or an escaping symlink fails at load
    return tuple(mounts), files


def _guest_path(destination: str, where: str) -> str:
    if not destination.startswith("/"):
        raise PolicyError(f"{where}: destination {destination!r} must be an absolute guest path")
    parts = [p for p in destination.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PolicyError(f"{where}: destination {destination!r} may not contain '..'")
    return "/" + "/".join(parts)


def _resolve(text: str, values: Mapping[str, str], where: str) -> str:
    """Spin's template syntax: ``{{ name }}`` expressions between literal text."""
    out: list[str] = []
    rest = text
    while rest:
        head, sep, tail = rest.partition("{{")
        out.append(head)
        if not sep:
            break
        expr, close, rest = tail.partition("}}")
        if not close:
            raise PolicyError(f"{where}: unmatched '{{{{' in {text!r}")
        name = expr.strip()
        if name not in values:
            raise PolicyError(
                f"{where} uses application variable {name!r}, which is not declared or has no value"
            )
        out.append(values[name])
    return "".join(out)
