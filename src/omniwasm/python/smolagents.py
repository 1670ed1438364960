"""A ``smolagents`` code executor that runs a ``CodeAgent``'s code in omniwasm's sandbox.

``CodeAgent(tools=..., model=..., executor=WasmPythonExecutor())`` runs every code action in
one sandboxed session (state kept between steps, as smolagents expects). The agent's tools run
on the host, called from the sandbox through ``host.tools`` and bound to plain names in the
code's namespace; ``final_answer(x)`` ends the step with ``x`` as the agent's answer. Failures
(an exception, a limit) raise ``InterpreterError`` with the code's output and the guest
traceback, which the agent shows its model as the step's error.
"""

from __future__ import annotations

import json
from typing import Any

from smolagents.local_python_executor import CodeOutput, InterpreterError, PythonExecutor

from .._policy import Policy
from ._image import DEFAULT_PRELOAD
from ._run import Session
from ._tools import Tool as HostTool

__all__ = ["WasmPythonExecutor"]

_FINAL = "FinalAnswerException"
_SETUP = f"""
class {_FINAL}(BaseException):
    pass

def final_answer(answer):
    global _omniwasm_final
    _omniwasm_final = answer
    raise {_FINAL}()
"""
_BIND = "from host import tools as _t\n{names}\ndel _t\n"


def _host_tool(tool: Any) -> HostTool:
    """A smolagents tool as a host tool, with its inputs as the guest signature."""
    import inspect

    params = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if not spec.get("nullable")
        else inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        for name, spec in tool.inputs.items()
    ]

    def call(*args: Any, **kwargs: Any) -> Any:
        return tool(*args, **kwargs)

    return HostTool(
        fn=call, name=tool.name, doc=tool.description, signature=inspect.Signature(params)
    )


class WasmPythonExecutor(PythonExecutor):  # type: ignore[misc]
    """smolagents' ``PythonExecutor`` on omniwasm.python.

    Args:
        policy: limits and grants of each step (30 s and 1 GiB when None).
        packages: the modules the image has imported.
        max_print_outputs_length: characters of a step's output kept for the model.

    """

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        packages: tuple[str, ...] = DEFAULT_PRELOAD,
        max_print_outputs_length: int = 50_000,
    ) -> None:
        self.policy = policy
        self.packages = packages
        self.max_print_outputs_length = max_print_outputs_length
        self.state: dict[str, Any] = {}
        self._tools: list[HostTool] = []
        self._variables: dict[str, Any] = {}
        self._session: Session | None = None

    def _open(self) -> Session:
        if self._session is None:
            names = "\n".join(f"{t.name} = _t.{t.name}" for t in self._tools)
            setup = _SETUP + (_BIND.format(names=names) if self._tools else "")
            if self._variables:
                data = json.dumps(self._variables)
                setup += f"import json as _j\nglobals().update(_j.loads({data!r}))\ndel _j\n"
            self._session = Session(
                policy=self.policy, packages=self.packages, tools=self._tools, setup=setup
            )
        return self._session

    def send_tools(self, tools: dict[str, Any]) -> None:
        """Offer the agent's tools (all but ``final_answer``, which the sandbox defines)."""
        self._tools = [_host_tool(t) for name, t in tools.items() if name != "final_answer"]
        self.cleanup()

    def send_variables(self, variables: dict[str, Any]) -> None:
        """Define the JSON-compatible ``variables`` in the code's namespace."""
        kept = {}
        for key, value in variables.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            kept[key] = value
        self._variables = kept
        self.cleanup()

    def __call__(self, code_action: str) -> CodeOutput:
        """Run one code action; its printed output is the step's log."""
        result = self._open().run(code_action, value=True)
        logs = (result.stdout + result.stderr)[-self.max_print_outputs_length :]
        self.state["_print_outputs"] = logs
        if result.error is not None and result.error.type == _FINAL:
            answer = self._open().run("_omniwasm_final", value=True)
            output = answer.value if answer.value is not None else answer.display
            return CodeOutput(output=output, logs=logs, is_final_answer=True)
        if result.limit is not None:
            raise InterpreterError(f"{logs}\nthe {result.limit} limit stopped the code")
        if result.error is not None:
            raise InterpreterError(f"{logs}\n{result.error.traceback or result.error}")
        output = result.value if result.value is not None else result.display
        return CodeOutput(output=output, logs=logs, is_final_answer=False)

    def cleanup(self) -> None:
        """Close the session (the next call starts a fresh one)."""
        if self._session is not None:
            self._session.close()
            self._session = None
