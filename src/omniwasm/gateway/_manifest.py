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
    allowed_outbound_hosts = ["https://api.example.com"]
    environment = { MODE = "prod" }
    files = [{ source = "static", destination = "/static" }]   # read-only
    key_value_stores = ["default"]
    variables = { greeting = "hello {{ name }}" }      # read with wasi:config... (later)

    [component.cart.limits]                          # omniwasm's own (not in Spin)
    memory = "64MiB"
    timeout = "2s"
    fuel = 100000000

    [variables]
    name = { default = "world" }

Unknown keys are refused with the place they appear, so a typo never silently drops a
setting. Every component becomes a :class:`~omniwasm.Policy` (environment, read-only file
mounts, outbound hosts, limits) that the gateway applies to each request's instance.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import PolicyError
from .._policy import Mount, Policy, parse_duration, parse_size
from ._routes import Router

__all__ = ["AppManifest", "ComponentSpec", "HttpTrigger", "load_app_manifest"]

_TOP = {"spin_manifest_version", "omniwasm_manifest_version", "application", "trigger",
        "component", "variables"}  # fmt: skip
_APPLICATION = {"name", "version", "description", "authors", "trigger"}
_TRIGGER = {"route", "component", "executor", "id"}
_COMPONENT = {"source", "description", "allowed_outbound_hosts", "allowed_http_hosts",
              "environment", "files", "exclude_files", "key_value_stores", "variables",
              "build", "limits", "dependencies_inherit_configuration"}  # fmt: skip
_LIMITS = {"memory", "timeout", "fuel"}
_VARIABLE = {"default", "required", "secret"}
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TEMPLATE = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")


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
            application's ``[variables]``.

    """

    id: str
    source: Path
    policy: Policy
    key_value_stores: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)


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
        PolicyError: the file cannot be read or parsed, has unknown keys, a trigger names a
            missing component, a route is malformed or duplicated, a source file is
            missing, or a required variable has no value.

    """
    file = Path(path).resolve()
    try:
        data = tomllib.loads(file.read_text())
    except OSError as exc:
        raise PolicyError(f"cannot read {file}: {exc.strerror}") from exc
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
        cid: _component(cid, spec, base, values)
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


def _variables(table: Any, given: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, raw in _table(table, "[variables]").items():
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


def _component(cid: str, raw: Any, base: Path, values: Mapping[str, str]) -> ComponentSpec:
    where = f"[component.{cid}]"
    if not _ID.match(cid):
        raise PolicyError(f"{where}: ids are lower-case kebab-case (like Spin's)")
    spec = _check_keys(raw, _COMPONENT, where)
    source = spec.get("source")
    if not isinstance(source, str):
        raise PolicyError(f"{where} needs a source file (a URL or registry source: not yet)")
    file = (base / source).resolve()
    if not file.is_file():
        raise PolicyError(f"{where}: source {source!r} not found ({file})")
    hosts = [*spec.get("allowed_outbound_hosts", []), *spec.get("allowed_http_hosts", [])]
    env = spec.get("environment", {})
    if not isinstance(env, Mapping):
        raise PolicyError(f"{where}.environment must be a table of strings")
    limits = _check_keys(spec.get("limits", {}), _LIMITS, f"{where}.limits")
    try:
        policy = Policy(
            env=tuple((str(k), str(v)) for k, v in env.items()),
            dirs=_files(spec.get("files", []), base, where),
            allowed_hosts=tuple(str(h) for h in hosts),
            max_memory=parse_size(limits["memory"]) if "memory" in limits else None,
            timeout=parse_duration(limits["timeout"]) if "timeout" in limits else None,
            fuel=limits.get("fuel"),
        )
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from exc
    return ComponentSpec(
        id=cid,
        source=file,
        policy=policy,
        key_value_stores=tuple(str(s) for s in spec.get("key_value_stores", [])),
        variables={
            str(k): _resolve(str(v), values, f"{where}.variables.{k}")
            for k, v in spec.get("variables", {}).items()
        },
    )


def _files(items: Any, base: Path, where: str) -> tuple[Mount, ...]:
    """Spin ``files`` as ``{ source = "dir", destination = "/path" }`` tables: read-only mounts.

    Spin's glob-pattern entries (``"static/**"``) are refused for now with a clear error:
    mounting the directories they match would expose files the pattern leaves out.
    """
    mounts: list[Mount] = []
    for raw in items:
        if isinstance(raw, str):
            raise PolicyError(
                f"{where}.files: glob patterns ({raw!r}) are not supported yet; mount a "
                'directory with { source = "dir", destination = "/path" }'
            )
        item = _check_keys(raw, {"source", "destination"}, f"{where}.files")
        src = (base / str(item.get("source", ""))).resolve()
        if not src.is_dir():
            raise PolicyError(f"{where}.files: {src} is not a directory")
        mounts.append(Mount(str(src), str(item.get("destination", "/")), read_only=True))
    return tuple(mounts)


def _resolve(text: str, values: Mapping[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise PolicyError(f"{where} uses application variable {name!r}, which has no value")
        return values[name]

    return _TEMPLATE.sub(sub, text)
