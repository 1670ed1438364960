"""The sandbox policy: one frozen description of what a guest may use, shared by every habitat.

Deny by default: a default ``Policy()`` gives a guest no arguments, no environment, no files, no
network, an empty stdin and captured stdout/stderr. Limits are off until set. The same object is
built from CLI flags, plugin manifests and TOML/JSON files, and it is the readable source of
truth for how an engine store was configured (wasmtime's own ``Config`` is write-only).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from .._errors import PolicyError

__all__ = ["DEFAULT_MAX_OUTPUT", "Mount", "Output", "Policy", "parse_duration", "parse_size"]

Output: TypeAlias = Literal["capture", "inherit", "discard"] | Path
"""Where a guest's stdout/stderr go: captured, the host's stream, nowhere, or a file."""

_OUTPUT_WORDS = ("capture", "inherit", "discard")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "m": 60.0, "h": 3600.0}


def parse_size(text: str | int) -> int:
    """Parse a byte size such as ``"64MiB"``, ``"10MB"``, ``"4096"`` or an int.

    Args:
        text: the size; units are B, KB/KiB, MB/MiB, GB/GiB (case-insensitive).

    Raises:
        PolicyError: the text is not a size.

    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise PolicyError(f"size must not be negative: {text}")
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise PolicyError(f"not a size: {text!r} (try 64MiB, 10MB or a number of bytes)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_duration(text: str | float) -> float:
    """Parse a duration such as ``"2s"``, ``"500ms"``, ``"1m"`` or a number of seconds.

    Raises:
        PolicyError: the text is not a positive duration.

    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zµ]*)\s*", str(text))
        if not m or m.group(2) not in _DURATION_UNITS:
            raise PolicyError(f"not a duration: {text!r} (try 2s, 500ms or 1m)")
        value = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise PolicyError(f"duration must be positive: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class Mount:
    """A host directory made visible to the guest.

    Args:
        host: the directory on the host.
        guest: where the guest sees it (e.g. ``/data``).
        read_only: refuse every write, create, rename and delete under it.

    """

    host: str
    guest: str
    read_only: bool = False

    @classmethod
    def parse(cls, spec: str, *, read_only: bool = False) -> Mount:
        """Parse the CLI form ``HOST[::GUEST][:ro]`` (wasmtime's ``--dir`` syntax).

        Raises:
            PolicyError: the spec is empty, has more than one ``::``, an empty guest path,
                or a mode suffix other than ``:ro`` (``:rw``, ``:rx``...).

        """
        text = spec
        if text.endswith(":ro") and not text.endswith("::ro"):
            text, read_only = text[:-3], True
        if text.count("::") > 1:
            raise PolicyError(
                f"--dir {spec!r}: more than one '::' (the form is HOST[::GUEST][:ro])"
            )
        host, sep, guest = text.partition("::")
        mode = re.search(r"(?<!:):([A-Za-z]{1,3})$", text)
        if mode and not (not sep and os.path.exists(text)):
            raise PolicyError(
                f"--dir {spec!r}: unknown mode ':{mode.group(1)}' (a directory is writable "
                "unless ':ro' is given, or --dir-ro)"
            )
        if not host:
            raise PolicyError(f"--dir needs a host directory: {spec!r}")
        if sep and not guest:
            raise PolicyError(f"--dir {spec!r}: the guest path after '::' is empty")
        return cls(host=host, guest=guest if sep else host, read_only=read_only)

    def problem(self) -> str | None:
        """Why the host directory cannot be preopened (None when it can).

        Returns:
            ``"preopened directory not found: HOST"`` or ``"... is not a directory"``.

        """
        if os.path.isdir(self.host):
            return None
        if os.path.exists(self.host):
            return f"preopened directory {self.host} is a file, not a directory"
        return f"preopened directory not found: {self.host}"


def _freeze_env(env: Any) -> tuple[tuple[str, str], ...]:
    items = env.items() if isinstance(env, Mapping) else env
    pairs = []
    for item in items:
        if isinstance(item, str):
            key, sep, value = item.partition("=")
            if not sep:
                raise PolicyError(f"env entry needs KEY=VALUE: {item!r}")
        else:
            key, value = item
        if not key or "=" in key:
            raise PolicyError(f"bad environment variable name: {key!r}")
        pairs.append((str(key), str(value)))
    # A key given twice means its later value, as in a process environment (and as TOML and
    # JSON tables can say it).
    return tuple(dict(pairs).items())


def _freeze_models(models: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(models, str):
        raise PolicyError("models must be a mapping {name: path} or NAME=PATH strings")
    items = models.items() if isinstance(models, Mapping) else models
    pairs: dict[str, str] = {}
    for item in items:
        if isinstance(item, str):
            name, sep, path = item.partition("=")
            if not sep:
                raise PolicyError(f"a model needs NAME=PATH: {item!r}")
        else:
            name, path = item
        if not isinstance(name, str) or not name:
            raise PolicyError(f"a model name must be a non-empty string, got {name!r}")
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path:
            raise PolicyError(f"model {name!r} needs a file path, got {path!r}")
        if name in pairs:
            raise PolicyError(f"model {name!r} is named twice")
        pairs[name] = path
    return tuple(sorted(pairs.items()))  # a grant is a set: equal whatever order it came in


def _freeze_mount(m: Any) -> Mount:
    if isinstance(m, Mount):
        return m
    if isinstance(m, str):
        return Mount.parse(m)
    if isinstance(m, Mapping):
        return Mount(
            host=str(m["host"]),
            guest=str(m.get("guest", m["host"])),
            read_only=bool(m.get("read_only", False)),
        )
    raise PolicyError(f"not a directory mount: {m!r}")


def _freeze_output(value: Any, name: str) -> Output:
    if isinstance(value, Path):
        return value
    if value in _OUTPUT_WORDS:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and value.startswith("file:"):
        return Path(value[5:])
    raise PolicyError(f"{name} must be one of {_OUTPUT_WORDS} or a Path, got {value!r}")


DEFAULT_MAX_OUTPUT = 16 << 20
"""``Policy.max_output`` unless set: 16 MiB per captured stream."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What a guest may use, and how much. Deny by default.

    Build one with keywords and derive variants with ``with_()``; it is immutable, hashable
    and serialisable (``to_dict``/``from_dict``, ``to_json``/``from_json``,
    ``to_toml``/``from_toml``), so CLI flags, manifests and plugin configs are the same object.

    Args:
        max_memory: bytes of linear memory the guest's store may hold (all memories together).
        fuel: units of fuel the guest may burn (roughly one per instruction); None = unmetered.
        timeout: wall-clock seconds each call (or run) may take, enforced by epoch interruption.
        max_table_elements: elements any one table may hold.
        max_instances: instances the store may create.
        max_output: bytes kept of each captured output stream (a guest's captured stdout and
            stderr, a plugin's output and logs, a served guest's logs per request): 16 MiB by
            default, None (``"unlimited"`` in files) for no limit. Past it the guest's writes
            fail (a closed stream) and the result says the stream was truncated.
        args: the guest's argv after the program name (``argv[0]`` is set by the runner).
        env: environment variables, as explicit pairs (a mapping or ``"K=V"`` strings work too).
        inherit_env: give the guest the host's whole environment (off by default).
        dirs: host directories to preopen (``Mount``, ``"HOST::GUEST[:ro]"`` or a mapping).
        stdin: bytes, a file path, ``"inherit"`` for the host's stdin, or None for empty.
        stdout: ``"capture"`` (bytes on the result), ``"inherit"``, ``"discard"`` or a Path.
        stderr: as ``stdout``.
        network: allow sockets (reserved: every host denies ``wasi:sockets`` today).
        allowed_hosts: where outgoing HTTP requests may go (the virtual WASI host's
            ``wasi:http``): Spin-style ``scheme://host[:port]`` patterns with ``*`` wildcards
            for scheme, host and port, ``*.example.com`` for subdomains and port ranges
            ``8000-8080``; without a port the scheme's default is meant (the pattern language
            of :mod:`omniwasm._policy.hosts`). Empty: no HTTP. ``tcp://HOST:PORT`` and
            ``udp://HOST:PORT`` patterns (only these schemes) grant WASI 0.3 sockets.
        deterministic: under the virtual WASI host (``omniwasm.wasi``), fix wall-clock and
            monotonic time (advancing only when the guest sleeps), seed every random source
            with ``seed`` and order directory listings, so two runs of the same guest on the
            same input produce byte-identical output.
        seed: the seed of the deterministic random sources (0..2**64-1).
        models: the ONNX models a ``wasi:nn`` guest may ``load-by-name``: ``{name: path}``
            (a mapping, pairs, or ``"NAME=PATH"`` strings; relative paths start at the
            working directory). Nothing else is reachable by name. Empty: none.
        max_model_size: the largest model (bytes) a ``wasi:nn`` guest may hand to ``load``
            from its own memory; 0 (the default) refuses every one (error ``security``).
        max_inference_time: seconds one ``wasi:nn`` ``compute`` may take; past it ONNX
            Runtime's run is stopped and the guest gets the error ``timeout``. None: only
            ``timeout`` bounds it.
        nn_threads: ONNX Runtime's intra-op threads for this guest's ``wasi:nn`` sessions.

    Raises:
        PolicyError: a field has a value of the wrong kind or range.

    """

    max_memory: int | None = None
    fuel: int | None = None
    timeout: float | None = None
    max_table_elements: int | None = None
    max_instances: int | None = None
    max_output: int | None = DEFAULT_MAX_OUTPUT
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    inherit_env: bool = False
    dirs: tuple[Mount, ...] = ()
    stdin: bytes | Path | Literal["inherit"] | None = None
    stdout: Output = "capture"
    stderr: Output = "capture"
    network: bool = False
    allowed_hosts: tuple[str, ...] = field(default=())
    deterministic: bool = False
    seed: int = 0
    models: tuple[tuple[str, str], ...] = ()
    max_model_size: int = 0
    max_inference_time: float | None = None
    nn_threads: int = 1

    def __post_init__(self) -> None:
        setter = object.__setattr__
        if self.max_memory is not None:
            setter(self, "max_memory", parse_size(self.max_memory))
        if self.timeout is not None:
            setter(self, "timeout", parse_duration(self.timeout))
        if self.max_output == "unlimited":  # type: ignore[comparison-overlap]
            setter(self, "max_output", None)  # how to_dict writes None (TOML has no null)
        elif self.max_output is not None:
            setter(self, "max_output", parse_size(self.max_output))
        for name in ("fuel", "max_table_elements", "max_instances"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise PolicyError(f"{name} must be a non-negative int, got {value!r}")
        if isinstance(self.args, str):
            raise PolicyError("args must be a sequence of strings, not one string")
        setter(self, "args", tuple(str(a) for a in self.args))
        setter(self, "env", _freeze_env(self.env))
        setter(self, "dirs", tuple(_freeze_mount(m) for m in self.dirs))
        setter(self, "allowed_hosts", tuple(str(h) for h in self.allowed_hosts))
        if isinstance(self.stdin, bytearray | memoryview):
            setter(self, "stdin", bytes(self.stdin))
        elif isinstance(self.stdin, str) and self.stdin != "inherit":
            setter(self, "stdin", Path(self.stdin))
        elif self.stdin is not None and not isinstance(self.stdin, bytes | Path | str):
            raise PolicyError(f"stdin must be bytes, a Path, 'inherit' or None: {self.stdin!r}")
        setter(self, "stdout", _freeze_output(self.stdout, "stdout"))
        setter(self, "stderr", _freeze_output(self.stderr, "stderr"))
        if not isinstance(self.deterministic, bool):
            raise PolicyError(f"deterministic must be true or false, got {self.deterministic!r}")
        if (
            not isinstance(self.seed, int)
            or isinstance(self.seed, bool)
            or not 0 <= self.seed < 2**64
        ):
            raise PolicyError(f"seed must be an int in 0..2**64-1, got {self.seed!r}")
        setter(self, "models", _freeze_models(self.models))
        setter(self, "max_model_size", parse_size(self.max_model_size))
        if self.max_inference_time is not None:
            setter(self, "max_inference_time", parse_duration(self.max_inference_time))
        if (
            not isinstance(self.nn_threads, int)
            or isinstance(self.nn_threads, bool)
            or self.nn_threads < 1
        ):
            raise PolicyError(f"nn_threads must be an int of at least 1, got {self.nn_threads!r}")

    def with_(self, **changes: Any) -> Policy:
        """Return a copy with some fields replaced (validated like the constructor).

        Raises:
            PolicyError: an unknown field or a bad value.

        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise PolicyError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON/TOML-safe dict holding only the fields that differ from the default."""
        import base64

        out: dict[str, Any] = {}
        default = _DEFAULT
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if f.name in ("env", "models"):
                value = dict(value)
            elif f.name == "dirs":
                value = [dataclasses.asdict(m) for m in value]
            elif f.name in ("args", "allowed_hosts"):
                value = list(value)
            elif f.name == "stdin":
                if isinstance(value, bytes):
                    value = {"base64": base64.b64encode(value).decode()}
                elif isinstance(value, Path):
                    value = {"path": str(value)}
            elif f.name in ("stdout", "stderr") and isinstance(value, Path):
                value = f"file:{value}"
            elif f.name == "max_output" and value is None:
                value = "unlimited"
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Build a policy from ``to_dict()`` output, a manifest or a parsed TOML/JSON file.

        Sizes and durations may be strings (``"64MiB"``, ``"2s"``).

        Raises:
            PolicyError: unknown keys or bad values.

        """
        import base64

        if not isinstance(data, Mapping):
            raise PolicyError(f"a policy must be a table/object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise PolicyError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
        kwargs = dict(data)
        stdin = kwargs.get("stdin")
        if isinstance(stdin, Mapping):
            if "base64" in stdin:
                kwargs["stdin"] = base64.b64decode(stdin["base64"])
            elif "path" in stdin:
                kwargs["stdin"] = Path(stdin["path"])
            else:
                raise PolicyError(f"stdin table needs 'base64' or 'path': {dict(stdin)!r}")
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise PolicyError(f"bad policy: {exc}") from exc

    def to_json(self) -> str:
        """Serialise to JSON (see ``to_dict``)."""
        import json

        return json.dumps(self.to_dict())  # field order; env keeps its order

    @classmethod
    def from_json(cls, text: str | bytes) -> Policy:
        """Parse JSON written by ``to_json`` or by hand.

        Raises:
            PolicyError: malformed JSON or a bad policy.

        """
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy JSON is malformed: {exc}") from exc
        return cls.from_dict(data)

    def to_toml(self) -> str:
        """Serialise to TOML (see ``to_dict``).

        Written with ``tomli-w``, which escapes every string as TOML requires, so
        ``from_toml`` reads back the same policy.
        """
        import tomli_w  # ~5 ms, only when a policy is written

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str) -> Policy:
        """Parse TOML written by ``to_toml`` or by hand.

        Raises:
            PolicyError: malformed TOML or a bad policy.

        """
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy TOML is malformed: {exc}") from exc
        return cls.from_dict(data)


_DEFAULT = Policy()


def merge_env(policy: Policy, host_env: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Resolve the guest's environment: the host's when inherited, then the explicit pairs."""
    merged = dict(host_env) if policy.inherit_env else {}
    merged.update(policy.env)
    return list(merged.items())
