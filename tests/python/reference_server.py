"""A minimal OpenEnv benchmark environment on the real OpenEnv (`create_app`), served by uvicorn.
It runs unchanged on both releases: openenv-core 0.3.0 (.venv) and openenv 0.10.0
(.venv-openenv010), whichever python starts it.

Same action ({wait_seconds}) and observation ({waited_seconds, pid, session_hash, host_url,
step_count}) as `openenv-bench serve`. Used by the interop tests of `scale` and by the
side-by-side benchmark. Environment variables as the Python original's server: HOST (0.0.0.0), PORT (8000),
WORKERS (1), MAX_CONCURRENT_ENVS (100, as openenv-core ships it).

    .venv/bin/python tests/python/reference_server.py
    .venv-openenv010/bin/python tests/python/reference_server.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Any, Optional

from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import State

from benchmark_models import BenchmarkAction, BenchmarkObservation

PORT = int(os.environ.get("PORT", "8000"))


class BenchmarkEnvironment(Environment):
    """`step` waits `wait_seconds` without blocking the event loop and says who served it."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._hash = uuid.uuid4().hex[:12]
        self._state = State(episode_id=str(uuid.uuid4()), step_count=0)
        self._host_url = f"{socket.gethostname()}:{PORT}"

    def _observe(self, waited: float) -> BenchmarkObservation:
        return BenchmarkObservation(
            waited_seconds=waited,
            pid=os.getpid(),
            session_hash=self._hash,
            host_url=self._host_url,
            step_count=self._state.step_count,
        )

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, **kwargs: Any) -> BenchmarkObservation:
        self._state = State(episode_id=episode_id or str(uuid.uuid4()), step_count=0)
        return self._observe(0.0)

    def step(self, action: BenchmarkAction, timeout_s: Optional[float] = None, **kwargs: Any) -> BenchmarkObservation:
        raise RuntimeError("step_async is used")  # the server prefers step_async when overridden

    async def step_async(
        self, action: BenchmarkAction, timeout_s: Optional[float] = None, **kwargs: Any
    ) -> BenchmarkObservation:
        wait = max(0.0, float(action.wait_seconds))
        if wait > 0:
            await asyncio.sleep(wait)
        self._state.step_count += 1
        return self._observe(wait)

    @property
    def state(self) -> State:
        return self._state


app = create_app(
    BenchmarkEnvironment,
    BenchmarkAction,
    BenchmarkObservation,
    env_name="benchmark",
    max_concurrent_envs=int(os.environ.get("MAX_CONCURRENT_ENVS", "100")),
)


def main() -> None:
    import uvicorn

    workers = int(os.environ.get("WORKERS", "1"))
    host = os.environ.get("HOST", "0.0.0.0")
    if workers > 1:
        uvicorn.run(
            "reference_server:app",
            app_dir=os.path.dirname(os.path.abspath(__file__)),
            host=host,
            port=PORT,
            workers=workers,
            log_level="warning",
        )
    else:
        uvicorn.run(app, host=host, port=PORT, log_level="warning")


if __name__ == "__main__":
    main()
