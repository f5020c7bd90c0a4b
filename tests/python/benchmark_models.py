"""The benchmark environment's action and observation as pydantic models on OpenEnv's bases
(the same import path in openenv-core 0.3.0 and openenv 0.10.0),
shared by the Python reference server and the interop client (their JSON Schemas are what our
server's /schema must equal)."""

from openenv.core.env_server.types import Action, Observation


class BenchmarkAction(Action):
    """Action for the Benchmark environment - wait for a duration."""

    wait_seconds: float = 0.0


class BenchmarkObservation(Observation):
    """Observation from Benchmark environment - concurrency test metrics."""

    waited_seconds: float = 0.0
    pid: int = 0
    session_hash: str = ""
    host_url: str = ""
    step_count: int = 0
