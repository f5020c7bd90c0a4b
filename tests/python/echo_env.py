"""An echo environment on OpenEnv (`create_app`), served by uvicorn: `message` in,
`echoed_message` and `message_length` out. An empty message fails pydantic validation
(HTTP 422 / WS `VALIDATION_ERROR`). Runs on openenv-core 0.3.0 and openenv 0.10.0.

Each step also reports the running step count in the observation's `metadata`, so that the
`metadata` fields of the wire format carry something.

Environment variables: HOST (127.0.0.1), PORT (8000), MAX_CONCURRENT_ENVS (100).

    .venv-openenv010/bin/python tests/python/echo_env.py
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional

from pydantic import Field

from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State


class EchoAction(Action):
    """Say something."""

    message: str = Field(min_length=1, description="What to echo back")


class EchoObservation(Observation):
    """What was said, and how long it was."""

    echoed_message: str = ""
    message_length: int = 0


class EchoEnvironment(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._state = State(episode_id=str(uuid.uuid4()), step_count=0)

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, **kwargs: Any) -> EchoObservation:
        self._state = State(episode_id=episode_id or str(uuid.uuid4()), step_count=0)
        return EchoObservation()

    def step(self, action: EchoAction, timeout_s: Optional[float] = None, **kwargs: Any) -> EchoObservation:
        self._state.step_count += 1
        return EchoObservation(
            echoed_message=action.message,
            message_length=len(action.message),
            reward=float(len(action.message)),
            metadata={"step": self._state.step_count},
        )

    @property
    def state(self) -> State:
        return self._state


app = create_app(
    EchoEnvironment,
    EchoAction,
    EchoObservation,
    env_name="echo",
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
