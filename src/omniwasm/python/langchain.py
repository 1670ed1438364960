"""A LangChain tool that runs Python in omniwasm's sandbox (``langchain-core``).

``PythonSandboxTool()`` runs each call in a fresh sandbox; ``PythonSandboxTool(session=True)``
keeps one interpreter's state across calls. The tool's answer is the code's output, then the
value of its last expression, or the error with the guest traceback; the model reads it.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .._policy import Policy
from ._image import DEFAULT_PRELOAD
from ._result import Result
from ._run import Session, run

__all__ = ["PythonSandboxTool", "describe"]


class _Input(BaseModel):
    code: str = Field(description="Python code to run; numpy and pandas are available.")


def describe(result: Result) -> str:
    """A result as text for a model: output, last value, error or limit."""
    parts = [result.stdout, result.stderr]
    if result.display is not None:
        parts.append(f"{result.display}\n")
    if result.error is not None:
        parts.append(result.error.traceback or f"{result.error}\n")
    if result.limit is not None:
        parts.append(f"the {result.limit} limit stopped the code\n")
    return "".join(parts) or "(no output)"


class PythonSandboxTool(BaseTool):
    """Run Python in a WebAssembly sandbox: no host files, network or processes."""

    name: str = "python_sandbox"
    description: str = (
        "Run Python 3 code in a sandbox with numpy and pandas. Print what you need to see; "
        "the value of the last expression is shown too."
    )
    args_schema: type[BaseModel] = _Input
    policy: Policy | None = None
    session: bool = False
    packages: tuple[str, ...] = DEFAULT_PRELOAD
    model_config = ConfigDict(arbitrary_types_allowed=True)
    _session: Session | None = PrivateAttr(default=None)

    def _run(self, code: str, **_: Any) -> str:
        if not self.session:
            return describe(run(code, policy=self.policy, packages=self.packages))
        if self._session is None:
            self._session = Session(policy=self.policy, packages=self.packages)
        return describe(self._session.run(code))

    def close(self) -> None:
        """Close the tool's session, if it has one."""
        if self._session is not None:
            self._session.close()
            self._session = None
