"""The agent integrations run code end to end with the real libraries (no model calls)."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest

from omniwasm.python.langchain import PythonSandboxTool
from omniwasm.python.smolagents import WasmPythonExecutor


def test_smolagents_executor_runs_a_code_action() -> None:
    """A CodeAgent-style step: tools called from the sandbox, state kept, final_answer ends it."""
    from smolagents import tool
    from smolagents.local_python_executor import InterpreterError

    @tool
    def lookup(city: str) -> float:
        """Look up a city's population in millions.

        Args:
            city: the city's name.

        """
        return {"Paris": 2.1, "Rome": 2.8}[city]

    executor = WasmPythonExecutor()
    try:
        executor.send_tools({"lookup": lookup})
        executor.send_variables({"factor": 10})
        step = executor(
            "import numpy as np\ntotal = np.sum([lookup('Paris'), lookup('Rome')])\nprint(total)"
        )
        assert step.logs == "4.9\n"
        assert not step.is_final_answer
        final = executor("final_answer(round(float(total) * factor, 1))")
        assert final.is_final_answer
        assert final.output == 49.0
        with pytest.raises(InterpreterError, match="ZeroDivisionError"):
            executor("1 / 0")
    finally:
        executor.cleanup()


def test_smolagents_code_agent_uses_the_executor() -> None:
    """A CodeAgent accepts the executor and runs its code action through it."""
    from smolagents import CodeAgent
    from smolagents.models import Model

    class NoModel(Model):
        def generate(self, *args: object, **kwargs: object) -> object:
            raise AssertionError("no model is called in this test")

    executor = WasmPythonExecutor()
    agent = CodeAgent(tools=[], model=NoModel(model_id="none"), executor=executor)
    try:
        assert agent.python_executor is executor
        agent.python_executor.send_tools({**agent.tools})
        out = agent.python_executor("x = 6 * 7\nfinal_answer(x)")
        assert out.is_final_answer and out.output == 42
    finally:
        agent.cleanup()


def test_langchain_tool_runs_code() -> None:
    """The LangChain tool answers with the code's output and last value."""
    fresh = PythonSandboxTool()
    assert fresh.invoke({"code": "import pandas as pd\nprint(pd.Series([1, 2, 3]).sum())"}) == "6\n"
    stateful = PythonSandboxTool(session=True)
    try:
        stateful.invoke({"code": "x = 20"})
        assert stateful.invoke({"code": "x + 1"}) == "21\n"
        assert "ZeroDivisionError" in stateful.invoke({"code": "1/0"})
    finally:
        stateful.close()


def test_mcp_server_over_stdio_with_a_real_client() -> None:
    """`omniwasm mcp python` answers run_python and session tools to the mcp stdio client."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {
        k: v for k, v in os.environ.items() if k.startswith(("OMNIWASM_", "PYTHON", "PATH", "HOME"))
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "omniwasm", "mcp", "python"], env=env
    )

    async def session() -> list[dict[str, object]]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"run_python", "session_open", "session_run"} <= names

            async def call(name: str, **args: object) -> dict[str, object]:
                result = await client.call_tool(name, args)
                return json.loads(result.content[0].text)  # type: ignore[union-attr]

            fresh = await call("run_python", code="import numpy as np\nprint(np.arange(5).sum())")
            sid = (await call("session_open"))["session_id"]
            await call("session_run", session_id=sid, code="y = 41")
            later = await call("session_run", session_id=sid, code="print(y + 1)")
            await call("session_close", session_id=sid)
            return [fresh, later]

    fresh, later = anyio.run(session)
    assert fresh["stdout"] == "10\n" and fresh["ok"]
    assert later["stdout"] == "42\n"
