"""The Extism JSON manifest, accepted as-is, and its mapping onto an omniwasm ``Policy``.

```
{"wasm": [{"path": "..."} | {"data": "<base64>"} | {"url": "..."}, ... (optional "hash", "name")],
 ("url": "oci://host/repo:tag" pulls from a registry, verified, through omniwasm.registry)
 "memory": {"max_pages": N, "max_http_response_bytes": N, "max_var_bytes": N},
 "config": {"key": "value"}, "allowed_hosts": ["*.example.com"],
 "allowed_paths": {"host/dir": "/guest/dir", "ro:host/ro": "/data"}, "timeout_ms": N}
```

Every ``hash`` is checked (sha256) before anything is compiled. Unknown keys are an error (a
misspelt limit must not silently disable it). With several modules the main one is the one
named ``main``, else the last, as in Extism.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import InvalidModule, PolicyError
from .._policy import Mount, Policy

__all__ = ["Manifest", "load_manifest"]

WASM_PAGE = 65536
DEFAULT_MAX_HTTP_RESPONSE_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_VAR_BYTES = 1024 * 1024
_TOP_KEYS = {"wasm", "memory", "config", "allowed_hosts", "allowed_paths", "timeout_ms"}
_WASM_KEYS = {"path", "data", "url", "hash", "name", "headers", "method"}
_MEMORY_KEYS = {"max_pages", "max_http_response_bytes", "max_var_bytes"}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A resolved Extism manifest: the main module's bytes and the plugin's settings.

    Args:
        wasm: the main module's bytes (hash already verified).
        name: its name (from the manifest, or the file name).
        config: plugin configuration, read by the guest with ``config_get``.
        allowed_hosts: host globs HTTP requests may reach; None means no HTTP at all.
        max_pages: memory limit in 64 KiB pages (None: the policy's).
        max_var_bytes: bound on the var store (0 disables vars).
        max_http_response_bytes: bound on one HTTP response body.
        mounts: preopened directories from ``allowed_paths``.
        timeout_ms: per-call timeout (None: the policy's).

    """

    wasm: bytes
    name: str = "main"
    config: Mapping[str, str] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] | None = None
    max_pages: int | None = None
    max_var_bytes: int = DEFAULT_MAX_VAR_BYTES
    max_http_response_bytes: int = DEFAULT_MAX_HTTP_RESPONSE_BYTES
    mounts: tuple[Mount, ...] = ()
    timeout_ms: int | None = None

    def policy(self, base: Policy | None = None) -> Policy:
        """The omniwasm policy this manifest asks for, on top of ``base``."""
        policy = base or Policy()
        changes: dict[str, Any] = {}
        if self.max_pages is not None:
            changes["max_memory"] = self.max_pages * WASM_PAGE
        if self.timeout_ms is not None:
            changes["timeout"] = self.timeout_ms / 1000
        if self.mounts:
            changes["dirs"] = (*policy.dirs, *self.mounts)
        return policy.with_(**changes) if changes else policy


def _fail(message: str) -> PolicyError:
    return PolicyError(f"manifest: {message}")


def _check_keys(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(f"unknown key(s) in {where}: {', '.join(unknown)}")


def _int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return value


def _module_bytes(entry: Mapping[str, Any], base: Path | None) -> tuple[bytes, str]:
    _check_keys(entry, _WASM_KEYS, "wasm[]")
    if "path" in entry:
        path = Path(os.fspath(entry["path"]))
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidModule(f"manifest: cannot read {path}: {exc.strerror}") from exc
        name = str(entry.get("name") or path.stem)
    elif "data" in entry:
        try:
            data = base64.b64decode(entry["data"], validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise _fail("wasm[].data is not valid base64") from exc
        name = str(entry.get("name") or "")
    elif "url" in entry and str(entry["url"]).startswith("oci://"):
        from ..registry import fetch_source

        data = fetch_source(str(entry["url"]), project_dir=base)
        name = str(entry.get("name") or "main")
    elif "url" in entry:
        data = _fetch(entry)
        name = str(entry.get("name") or Path(str(entry["url"])).stem or "main")
    else:
        raise _fail("each wasm entry needs one of path, data or url")
    expected = entry.get("hash")
    if expected is not None:
        actual = hashlib.sha256(data).hexdigest()
        if not isinstance(expected, str) or actual != expected.lower():
            raise InvalidModule(
                f"manifest: hash mismatch for {name}: expected {expected}, got {actual}"
            )
    return data, name


def _fetch(entry: Mapping[str, Any]) -> bytes:
    import urllib.error
    import urllib.request

    url = str(entry["url"])
    headers = entry.get("headers") or {}
    method = str(entry.get("method") or "GET")
    request = urllib.request.Request(url, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return bytes(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InvalidModule(f"manifest: cannot fetch {url}: {exc}") from exc


def _mounts(paths: Any) -> tuple[Mount, ...]:
    if paths is None:
        return ()
    if not isinstance(paths, Mapping):
        raise _fail("allowed_paths must be an object {host: guest}")
    mounts = []
    for host, guest in paths.items():
        read_only = host.startswith("ro:")
        host_dir = host.removeprefix("ro:")
        mounts.append(Mount(host=host_dir, guest=str(guest), read_only=read_only))
    return tuple(mounts)


def _hosts(hosts: Any) -> tuple[str, ...] | None:
    if hosts is None:
        return None
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise _fail("allowed_hosts must be a list of non-empty host globs")
    for h in hosts:
        if any(c in h for c in "/[]") or " " in h:
            raise _fail(f"allowed_hosts: invalid host glob {h!r}")
    return tuple(hosts)


def load_manifest(source: Mapping[str, Any] | str | os.PathLike[str]) -> Manifest:
    """Read an Extism manifest (a dict, JSON text, or a path to a JSON file).

    Raises:
        PolicyError: the manifest is malformed (unknown keys, bad values, bad globs).
        InvalidModule: a module cannot be read or fetched, or its hash does not match.

    """
    base: Path | None = None
    if isinstance(source, Mapping):
        raw: Any = source
    else:
        text = os.fspath(source)
        if not text.lstrip().startswith("{"):
            path = Path(text)
            try:
                text = path.read_text()
            except FileNotFoundError as exc:
                raise InvalidModule("manifest: file not found", source=str(path)) from exc
            except OSError as exc:
                raise InvalidModule(
                    f"manifest: cannot read file: {exc.strerror}", source=str(path)
                ) from exc
            base = path.parent
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(f"not valid JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise _fail("must be a JSON object")
    _check_keys(raw, _TOP_KEYS, "the manifest")
    wasm = raw.get("wasm")
    if not isinstance(wasm, list) or not wasm:
        raise _fail("wasm must be a non-empty list of modules")
    modules = [_module_bytes(e, base) for e in wasm if isinstance(e, Mapping)]
    if len(modules) != len(wasm):
        raise _fail("each wasm entry must be an object")
    data, name = next(((d, n) for d, n in modules if n == "main"), modules[-1])
    name = name or "main"
    memory = raw.get("memory") or {}
    if not isinstance(memory, Mapping):
        raise _fail("memory must be an object")
    _check_keys(memory, _MEMORY_KEYS, "memory")
    config = raw.get("config") or {}
    if not isinstance(config, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in config.items()
    ):
        raise _fail("config must map strings to strings")
    max_var = _int(memory, "max_var_bytes", "memory")
    max_http = _int(memory, "max_http_response_bytes", "memory")
    return Manifest(
        wasm=data,
        name=name,
        config=dict(config),
        allowed_hosts=_hosts(raw.get("allowed_hosts")),
        max_pages=_int(memory, "max_pages", "memory"),
        max_var_bytes=DEFAULT_MAX_VAR_BYTES if max_var is None else max_var,
        max_http_response_bytes=DEFAULT_MAX_HTTP_RESPONSE_BYTES if max_http is None else max_http,
        mounts=_mounts(raw.get("allowed_paths")),
        timeout_ms=_int(raw, "timeout_ms", "the manifest"),
    )
