"""An MCP environment on openenv 0.10 (`MCPEnvironment` + FastMCP tools), served by
`create_app` under uvicorn. Tools: `echo(message) -> str` and `add(a, b) -> int`. Reached
through MCP (`tools/list`, `tools/call`: WS `{"type":"mcp"}`, `POST /mcp`, `MCPToolClient`)
or through `step` with `{"type":"list_tools"}` / `{"type":"call_tool",...}` actions.

Environment variables: HOST (127.0.0.1), PORT (8000), MAX_CONCURRENT_ENVS (100).

    .venv-openenv010/bin/python tests/python/mcp_env.py
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional

from fastmcp import FastMCP

from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.mcp_environment import MCPEnvironment
from openenv.core.env_server.mcp_types import CallToolAction, CallToolObservation
from openenv.core.env_server.types import Action, Observation, State


class ToolEnvironment(MCPEnvironment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        mcp = FastMCP("bench-tools")

        @mcp.tool()
        def echo(message: str) -> str:
            """Return the message unchanged."""
            return message

        @mcp.tool()
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

        super().__init__(mcp)
        self._state = State(episode_id=str(uuid.uuid4()), step_count=0)

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, **kwargs: Any) -> Observation:
        self._state = State(episode_id=episode_id or str(uuid.uuid4()), step_count=0)
        return Observation(done=False, reward=None)

    def _step_impl(self, action: Action, timeout_s: Optional[float] = None, **kwargs: Any) -> Observation:
        # Only MCP actions (list_tools / call_tool) are meaningful here; MCPEnvironment routes
        # those itself, so anything reaching this is a client mistake.
        return Observation(done=False, reward=None, metadata={"error": f"unsupported action {type(action).__name__}"})

    def step(self, action: Action, timeout_s: Optional[float] = None, **kwargs: Any) -> Observation:
        self._state.step_count += 1
        return super().step(action, timeout_s=timeout_s, **kwargs)

    async def step_async(self, action: Action, timeout_s: Optional[float] = None, **kwargs: Any) -> Observation:
        self._state.step_count += 1
        return await super().step_async(action, timeout_s=timeout_s, **kwargs)

    @property
    def state(self) -> State:
        return self._state


app = create_app(
    ToolEnvironment,
    CallToolAction,
    CallToolObservation,
    env_name="mcp_tools",
    max_concurrent_envs=int(os.environ.get("MAX_CONCURRENT_ENVS", "100")),
)


def main() -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        log_level="warning",
    )


if __name__ == "__main__":
    main()
