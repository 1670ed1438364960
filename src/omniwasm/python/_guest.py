"""The guest side: Python that runs inside the sandboxed interpreter.

:data:`DRIVER` is installed once, when an image is made, as the module ``_omniwasm`` (so it is
part of every image and costs nothing per run). Each run is one ``turn`` of the interpreter
whose text is :data:`TURN`: the driver asks the host for the request through the one host
import (``host::call``, the builtin ``_host.call(frame) -> bytes``), runs the code in its
namespace with stdout and stderr going to bounded buffers, and sends back one result frame.

Frames: ``C`` asks for the request (JSON: code and options), ``T`` + JSON calls a tool,
``O1``/``O2`` + text is a piece of stdout/stderr (sent line by line, so a run stopped by a
limit keeps what it printed before), ``R`` + JSON is the result. Everything the guest
sends is untrusted: the host bounds and validates it.
:data:`DRIVER` also replaces the package ``host`` of the interpreter's standard library, so that
``from host import tools`` gives the tools of this run, with their signatures and docstrings.
"""

from __future__ import annotations

__all__ = ["DRIVER", "TURN", "install_turn", "preload_turn"]

TURN = b'__import__("_omniwasm").main()'

DRIVER = r'''
import ast
import base64
import builtins
import inspect
import io
import json
import linecache
import os
import sys
import traceback
import types

import _host

_SELF = "<omniwasm>"
_MAX_MESSAGE = 4096
_MAX_TRACEBACK = 65536
_MAX_REPR = 4096
_counter = 0


class ToolError(Exception):
    """A host tool refused the call or failed; the message says why."""


class _Stream(io.TextIOBase):
    """stdout or stderr of one run: sent to the host in pieces, at most ``limit`` bytes."""

    def __init__(self, name, tag, limit):
        self.name = name
        self.tag = tag
        self.limit = limit
        self.parts = []
        self.size = 0
        self.pending = 0
        self.truncated = False

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        if self.limit is not None and self.size + n > self.limit:
            keep = self.limit - self.size
            if keep > 0:
                self.parts.append(s[:keep])
                self.size += keep
            self.truncated = True
            self.send()
            raise OSError(27, f"{self.name}: output limit of {self.limit} bytes reached")
        self.parts.append(s)
        self.size += n
        self.pending += n
        if self.pending >= 8192 or "\n" in s:
            self.send()  # line by line, as to a terminal: a run stopped later keeps it
        return len(s)

    def send(self):
        """Hand what is buffered to the host, so a run stopped later keeps it."""
        if self.parts:
            data = "".join(self.parts).encode("utf-8", "surrogatepass")
            self.parts.clear()
            self.pending = 0
            _host.call(self.tag + data)

    def text(self):
        text = "".join(self.parts)
        self.parts.clear()
        return text


class _Annotation:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


_KINDS = {
    "positional_only": inspect.Parameter.POSITIONAL_ONLY,
    "positional_or_keyword": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "var_positional": inspect.Parameter.VAR_POSITIONAL,
    "keyword_only": inspect.Parameter.KEYWORD_ONLY,
    "var_keyword": inspect.Parameter.VAR_KEYWORD,
}


def _signature(spec):
    params = []
    for p in spec.get("params", []):
        kw = {}
        if "default" in p:
            kw["default"] = p["default"]
        if "annotation" in p:
            kw["annotation"] = _Annotation(p["annotation"])
        params.append(inspect.Parameter(p["name"], _KINDS[p["kind"]], **kw))
    ret = spec.get("returns")
    if ret is None:
        return inspect.Signature(params)
    return inspect.Signature(params, return_annotation=_Annotation(ret))


def _tool(spec):
    name = spec["name"]

    def call(*args, **kwargs):
        frame = json.dumps({"tool": name, "args": args, "kwargs": kwargs}, default=_default)
        answer = json.loads(_host.call(b"T" + frame.encode("utf-8")))
        if answer.get("ok"):
            return answer.get("value")
        raise ToolError(answer.get("error") or f"{name} failed")

    call.__name__ = call.__qualname__ = name
    call.__doc__ = spec.get("doc")
    call.__module__ = "host.tools"
    call.__signature__ = _signature(spec)
    return call


host = types.ModuleType("host", "What the embedding host gives this sandbox.")
tools = types.ModuleType("host.tools", "The host's tools: functions run outside the sandbox.")
host.tools = tools
tools.ToolError = ToolError
sys.modules["host"] = host
sys.modules["host.tools"] = tools
_installed = []


def _install_tools(specs):
    for name in _installed:
        tools.__dict__.pop(name, None)
    _installed.clear()
    for spec in specs:
        tools.__dict__[spec["name"]] = _tool(spec)
        _installed.append(spec["name"])
    tools.__all__ = ["ToolError", *_installed]


def _default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return {str(k): v for k, v in value.to_dict().items()}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"{type(value).__module__}.{type(value).__qualname__} is not JSON-compatible")


def _jsonable(value):
    text = json.dumps(value, default=_default, allow_nan=True)
    return json.loads(text)


def _short(text, limit):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _trimmed(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename == _SELF:
        tb = tb.tb_next
    return tb


def _error(exc):
    exc.__traceback__ = _trimmed(exc.__traceback__)
    try:
        text = "".join(traceback.format_exception(exc))
    except BaseException:
        text = f"{type(exc).__name__}: (traceback unavailable)"
    try:
        message = str(exc)
    except BaseException:
        message = "(message unavailable)"
    return {
        "type": type(exc).__qualname__,
        "module": type(exc).__module__,
        "message": _short(message, _MAX_MESSAGE),
        "traceback": text[-_MAX_TRACEBACK:],
    }


def _reseed(seed):
    """A fresh sandbox's random sources: every image starts with the same state.

    An integer seed (numpy's legacy seeding from an int is 25 times cheaper than from None).
    """
    import random

    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little")
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % (1 << 32))


NS = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}


def reset():
    NS.clear()
    NS.update({"__name__": "__main__", "__builtins__": builtins, "__doc__": None})


def _execute(code, want_value, result):
    global _counter
    _counter += 1
    name = f"<sandbox-{_counter}>" if _counter > 1 else "<sandbox>"
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    tree = ast.parse(code, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), NS)
    if last is not None:
        value = eval(compile(last, name, "eval"), NS)
        if value is not None:
            try:
                result["repr"] = _short(repr(value), _MAX_REPR)
            except BaseException as exc:
                result["repr"] = f"<repr failed: {type(exc).__name__}>"
            if want_value:
                try:
                    result["value"] = _jsonable(value)
                except BaseException as exc:
                    result["value_error"] = _short(str(exc), _MAX_MESSAGE)


def main():
    request = json.loads(_host.call(b"C"))
    limit = request.get("limit")
    out, err = _Stream("stdout", b"O1", limit), _Stream("stderr", b"O2", limit)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    result = {}
    try:
        if "tools" in request:
            _install_tools(request["tools"])
        if request.get("reset"):
            reset()
        if "cwd" in request:
            os.chdir(request["cwd"])
        if "env" in request:
            os.environ.clear()
            os.environ.update(request["env"])
        if "seed" in request:
            _reseed(request["seed"])
        _execute(request["code"], request.get("value", False), result)
    except SystemExit as exc:
        code = exc.code
        result["exit"] = code if isinstance(code, int) or code is None else str(code)
        if not isinstance(code, int) and code is not None:
            err.parts.append(str(code) + "\n")
    except BaseException as exc:
        result["error"] = _error(exc)
    finally:
        sys.stdout, sys.stderr = saved
    result["stdout"] = out.text()
    result["stderr"] = err.text()
    result["truncated"] = [s.name for s in (out, err) if s.truncated]
    try:
        frame = json.dumps(result, default=repr)
    except BaseException as exc:
        frame = json.dumps({"error": _error(exc)})
    _host.call(b"R" + frame.encode("utf-8", "surrogatepass"))
'''


def install_turn() -> bytes:
    """The text of the turn that installs :data:`DRIVER` as the module ``_omniwasm``."""
    return (
        "import sys as _s, types as _t\n"
        "_m = _t.ModuleType('_omniwasm')\n"
        f"exec(compile({DRIVER!r}, '<omniwasm>', 'exec'), _m.__dict__)\n"
        "_s.modules['_omniwasm'] = _m\n"
        "del _s, _t, _m\n"
    ).encode()


def preload_turn(modules: tuple[str, ...]) -> bytes:
    """The text of the turn that imports ``modules`` and freezes the heap for the image.

    ``gc.freeze()`` moves every object alive now out of the collector's reach, so collections
    in later runs do not write to (and so copy) the image's pages.
    """
    lines = [f"import {m}" for m in modules]
    lines += [f"del {top}" for top in dict.fromkeys(m.split(".")[0] for m in modules)]
    # warm what every run's driver uses, so lazily made state is in the image already
    lines += [
        "import _omniwasm as _o, json as _j, ast as _a, random as _r",
        "_j.loads(_j.dumps({'a': [1, 2.5, 'x', None]}))",
        "compile(_a.parse('x = 1\\nx', '<w>', 'exec'), '<w>', 'exec')",
        "_r.seed(1)",
        "try:\n    1 / 0\nexcept ZeroDivisionError as _e:\n    _o._error(_e)",
        "del _o, _j, _a, _r",
    ]
    lines += ["import gc as _gc", "_gc.collect()", "_gc.freeze()", "del _gc"]
    return ("\n".join(lines) + "\n").encode()
