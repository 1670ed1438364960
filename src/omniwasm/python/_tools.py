"""Tools: host Python functions that sandboxed code calls as ``from host import tools``.

The guest sees each tool as a function of ``host.tools`` with the host function's name,
signature and docstring (so ``help(tools.lookup)`` works); arguments and results cross as
JSON. A call is bound to the signature on the host, counted against the run's tool-call limit,
and run on a thread of its own that the run's deadline bounds. The guest sees a failure as
``host.tools.ToolError``: the message of a :class:`ToolError` the tool raised, or only the
exception's type for anything else (host tracebacks and messages stay on the host).
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tool", "ToolError", "ToolSet", "tool"]

MAX_REQUEST = 1 << 20
"""Bytes of one tool call's arguments (as JSON) a guest may send."""
MAX_ANSWER = 16 << 20
"""Bytes of one tool result (as JSON) handed back to the guest."""


class ToolError(Exception):
    """Raise it in a tool to fail the call with a message the guest may see."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A host function offered to sandboxed code.

    Args:
        fn: the function; its arguments and result must be JSON-compatible.
        name: the name the guest calls it by (the function's own by default).
        doc: what ``help()`` shows in the guest (the function's docstring by default).

    """

    fn: Callable[..., Any]
    name: str = ""
    doc: str | None = None
    signature: inspect.Signature | None = field(default=None, compare=False)

    def spec(self) -> dict[str, Any]:
        """The JSON description the guest builds its stand-in function from."""
        sig = self.signature
        assert sig is not None
        params = []
        for p in sig.parameters.values():
            entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name.lower()}
            if p.default is not inspect.Parameter.empty and _jsonable(p.default):
                entry["default"] = p.default
            if p.annotation is not inspect.Parameter.empty:
                entry["annotation"] = _annotation(p.annotation)
            params.append(entry)
        spec: dict[str, Any] = {"name": self.name, "doc": self.doc, "params": params}
        if sig.return_annotation is not inspect.Signature.empty:
            spec["returns"] = _annotation(sig.return_annotation)
        return spec


def _annotation(value: Any) -> str:
    """An annotation as source text (string annotations, as under PEP 563, as they are)."""
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``fn`` a :class:`Tool` (usable as ``@tool`` or ``@tool(name="...")``).

    Raises:
        ValueError: the name is not a Python identifier.

    """

    def wrap(f: Callable[..., Any]) -> Tool:
        return _make(f, name)

    return wrap(fn) if fn is not None else wrap


def _make(fn: Callable[..., Any] | Tool, name: str | None = None) -> Tool:
    if isinstance(fn, Tool):
        return fn if name is None else _make(fn.fn, name)
    label = str(name or getattr(fn, "__name__", ""))
    if not label.isidentifier() or label.startswith("_"):
        raise ValueError(f"a tool needs a public Python identifier as its name, got {label!r}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = inspect.Signature(
            [
                inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
            ]
        )
    return Tool(fn=fn, name=label, doc=inspect.getdoc(fn), signature=sig)


class ToolSet:
    """The tools of one run or session, by name.

    Args:
        tools: functions, :class:`Tool` objects, or a mapping of name to function.

    Raises:
        ValueError: two tools share a name, or a name is not an identifier.

    """

    def __init__(
        self, tools: Iterable[Callable[..., Any] | Tool] | Mapping[str, Callable[..., Any]] = ()
    ) -> None:
        made = (
            [_make(fn, name) for name, fn in tools.items()]
            if isinstance(tools, Mapping)
            else [_make(fn) for fn in tools]
        )
        self.tools: dict[str, Tool] = {}
        for t in made:
            if t.name in self.tools:
                raise ValueError(f"two tools are named {t.name!r}")
            self.tools[t.name] = t
        self.specs = [t.spec() for t in self.tools.values()]

    def __bool__(self) -> bool:
        return bool(self.tools)

    def call(self, request: bytes, remaining: float | None) -> tuple[dict[str, Any], bool]:
        """Answer one guest call: ``({"ok": ..., "value"/"error": ...}, timed_out)``."""
        try:
            data = json.loads(request)
            name, args, kwargs = data["tool"], data.get("args", []), data.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("malformed call")
        except (ValueError, TypeError, KeyError):
            return {"ok": False, "error": "malformed tool call"}, False
        found = self.tools.get(name) if isinstance(name, str) else None
        if found is None:
            return {"ok": False, "error": f"no tool named {str(name)[:100]!r}"}, False
        assert found.signature is not None
        try:
            bound = found.signature.bind(*args, **kwargs)
        except TypeError as exc:
            return {"ok": False, "error": f"{found.name}: {exc}"}, False
        return self._invoke(found, bound, remaining)

    @staticmethod
    def _invoke(
        found: Tool, bound: inspect.BoundArguments, remaining: float | None
    ) -> tuple[dict[str, Any], bool]:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = found.fn(*bound.args, **bound.kwargs)
            except ToolError as exc:
                box["error"] = f"{found.name}: {exc}"
            except Exception as exc:
                box["error"] = f"{found.name} failed ({type(exc).__name__})"

        if remaining is None:
            target()
        else:
            worker = threading.Thread(target=target, name=f"omniwasm-tool-{found.name}")
            worker.daemon = True
            worker.start()
            worker.join(max(remaining, 0.0))
            if worker.is_alive():
                return {"ok": False, "error": f"{found.name}: the run's time is up"}, True
        if "error" in box:
            return {"ok": False, "error": box["error"]}, False
        try:
            text = json.dumps(box.get("value"))
        except (TypeError, ValueError):
            return {"ok": False, "error": f"{found.name} returned a value JSON cannot hold"}, False
        if len(text) > MAX_ANSWER:
            return {
                "ok": False,
                "error": f"{found.name} returned more than {MAX_ANSWER} bytes",
            }, False
        return {"ok": True, "value": box.get("value")}, False
