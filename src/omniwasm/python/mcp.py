"""The sandbox as an MCP server: ``omniwasm mcp python`` over stdio (the ``mcp`` package, 2.x).

Tools: ``run_python(code)`` runs code in a fresh sandbox; ``session_open()`` returns an id
for ``session_run(session_id, code)``, ``session_reset`` and ``session_close``, whose state
lasts between calls. Each answer is the result as JSON (``Result.to_dict()``). Runs happen on
worker threads, so the server keeps answering while code runs.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

from .._policy import Policy
from ._image import DEFAULT_PRELOAD
from ._run import Session, run

__all__ = ["SandboxServer", "build_server", "serve_stdio"]


class SandboxServer:
    """The state behind the MCP tools: the policy and the open sessions.

    Args:
        policy: limits and grants of every run and session.
        max_sessions: sessions open at once (opening more is refused).
        packages: the modules the image has imported.

    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        max_sessions: int = 16,
        packages: tuple[str, ...] = DEFAULT_PRELOAD,
    ) -> None:
        self.policy = policy
        self.max_sessions = max_sessions
        self.packages = packages
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def run_python(self, code: str) -> str:
        """Run code in a fresh sandbox; return the result as JSON."""
        return json.dumps(run(code, policy=self.policy, packages=self.packages).to_dict())

    def session_open(self) -> str:
        """Open a session; return its id (or an error as JSON when too many are open)."""
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                return json.dumps({"error": f"at most {self.max_sessions} sessions are open"})
            sid = secrets.token_hex(8)
            self._sessions[sid] = Session(policy=self.policy, packages=self.packages)
        return json.dumps({"session_id": sid})

    def _session(self, sid: str) -> Session | None:
        with self._lock:
            return self._sessions.get(sid)

    def session_run(self, session_id: str, code: str) -> str:
        """Run code in a session; variables, imports and files persist between calls."""
        s = self._session(session_id)
        if s is None:
            return json.dumps({"error": f"no session {session_id[:32]!r}"})
        return json.dumps(s.run(code).to_dict())

    def session_reset(self, session_id: str) -> str:
        """Forget a session's state."""
        s = self._session(session_id)
        if s is None:
            return json.dumps({"error": f"no session {session_id[:32]!r}"})
        s.reset()
        return json.dumps({"ok": True})

    def session_close(self, session_id: str) -> str:
        """Close a session."""
        with self._lock:
            s = self._sessions.pop(session_id, None)
        if s is None:
            return json.dumps({"error": f"no session {session_id[:32]!r}"})
        s.close()
        return json.dumps({"ok": True})

    def close(self) -> None:
        """Close every session."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()


def build_server(state: SandboxServer) -> Any:
    """An ``mcp`` ``MCPServer`` whose tools call ``state`` on worker threads."""
    import anyio
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "omniwasm-python",
        instructions="Run untrusted Python (numpy, pandas) in a WebAssembly sandbox.",
    )

    @server.tool()
    async def run_python(code: str) -> str:
        """Run Python in a fresh sandbox (numpy and pandas are available); result as JSON."""
        return await anyio.to_thread.run_sync(state.run_python, code)

    @server.tool()
    async def session_open() -> str:
        """Open a Python session whose state persists between session_run calls."""
        return await anyio.to_thread.run_sync(state.session_open)

    @server.tool()
    async def session_run(session_id: str, code: str) -> str:
        """Run Python in an open session; result as JSON."""
        return await anyio.to_thread.run_sync(state.session_run, session_id, code)

    @server.tool()
    async def session_reset(session_id: str) -> str:
        """Forget everything a session defined."""
        return await anyio.to_thread.run_sync(state.session_reset, session_id)

    @server.tool()
    async def session_close(session_id: str) -> str:
        """Close a session."""
        return await anyio.to_thread.run_sync(state.session_close, session_id)

    return server


def serve_stdio(policy: Policy | None = None, *, max_sessions: int = 16) -> None:
    """Serve the sandbox over stdin/stdout until the client disconnects."""
    state = SandboxServer(policy, max_sessions=max_sessions)
    try:
        build_server(state).run("stdio")
    finally:
        state.close()
