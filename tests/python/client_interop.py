"""Interop: drive an openenv-bench server with the real Python OpenEnv client, either release:
openenv-core 0.3.0 (.venv) or openenv 0.10.0 (.venv-openenv010).

Usage: python client_interop.py BASE_URL CAPACITY2_URL
  BASE_URL       a server with the default capacity
  CAPACITY2_URL  a server started with MAX_CONCURRENT_ENVS=2

Run by crates/server/tests/interop.rs with $OPENENV_PYTHON and $OPENENV010_PYTHON. Under 0.10 it
also checks what 0.10 added: `metadata` in observations and HTTP bodies, `reset_observation` in
/schema, the `mcp` WS message, and `?session_id=` of an unknown session. Exits non-zero on the
first failure and prints one line per check.
"""

import asyncio
import importlib.metadata
import json
import math
import sys
import time
import urllib.request
from typing import Any, Dict

from openenv.core import EnvClient, GenericEnvClient
from openenv.core.client_types import StepResult
from openenv.core.env_server.types import State

from benchmark_models import BenchmarkAction, BenchmarkObservation

try:
    RELEASE = importlib.metadata.version("openenv")
except importlib.metadata.PackageNotFoundError:
    RELEASE = importlib.metadata.version("openenv-core")
IS_010 = RELEASE.startswith("0.10")


class BenchmarkEnv(EnvClient[BenchmarkAction, BenchmarkObservation, State]):
    """The typed client of the Python original's benchmark environment."""

    def _step_payload(self, action: BenchmarkAction) -> Dict[str, Any]:
        return {"wait_seconds": action.wait_seconds}

    def _parse_result(self, payload: Dict[str, Any]) -> StepResult[BenchmarkObservation]:
        obs = BenchmarkObservation(
            **payload.get("observation", {}),
            done=payload.get("done", False),
            reward=payload.get("reward"),
        )
        return StepResult(observation=obs, reward=payload.get("reward"), done=payload.get("done", False))

    def _parse_state(self, payload: Dict[str, Any]) -> State:
        return State(**payload)


def check(cond: bool, what: str) -> None:
    if not cond:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def http_json(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def typed_async(base: str) -> None:
    async with BenchmarkEnv(base_url=base) as env:
        r = await env.reset()
        obs = r.observation
        check(r.reward is None and r.done is False, "typed reset: reward None, done False")
        check(obs.step_count == 0 and obs.waited_seconds == 0.0, "typed reset: step_count 0")
        check(len(obs.session_hash) == 12 and int(obs.session_hash, 16) >= 0, "session_hash is 12 hex")
        check(obs.pid > 0 and ":" in obs.host_url, f"pid {obs.pid}, host_url {obs.host_url}")
        for i, w in enumerate([0.05, 0.0, 0.01], start=1):
            t = time.monotonic()
            r = await env.step(BenchmarkAction(wait_seconds=w))
            took = time.monotonic() - t
            check(r.observation.step_count == i, f"typed step {i}: step_count {i}")
            check(r.observation.waited_seconds == w and took >= w, f"typed step {i}: waited {w}")
            check(r.observation.session_hash == obs.session_hash, f"typed step {i}: same session_hash")
        st = await env.state()
        check(isinstance(st, State) and st.step_count == 3 and st.episode_id, "typed state: step_count 3")


async def generic_async(base: str) -> None:
    client = GenericEnvClient(base_url=base)
    await client.connect()
    r = await client.reset(seed=1)
    check(r.observation["step_count"] == 0, "generic reset(seed=1)")
    r = await client.step({"wait_seconds": 0})
    check(r.observation["step_count"] == 1, "generic step")
    for bad, what in [
        ({"bogus": 1}, "extra key"),
        ({"wait_seconds": -1}, "negative wait"),
        ({"wait_seconds": math.nan}, "NaN wait"),
        ({"wait_seconds": 1e300}, "huge wait"),
        ({"wait_seconds": "abc"}, "string wait"),
    ]:
        try:
            await client.step(bad)
            check(False, f"generic step with {what} raises")
        except RuntimeError as e:
            check("VALIDATION_ERROR" in str(e), f"generic step with {what}: RuntimeError {e}")
    r = await client.step({"wait_seconds": 0.01})
    check(r.observation["step_count"] == 2, "session still usable after errors")
    st = await client.state()
    check(st["step_count"] == 2, "generic state")
    await client.close()


def sync_wrapper(base: str) -> None:
    with BenchmarkEnv(base_url=base).sync() as env:
        r = env.reset()
        check(r.observation.step_count == 0, "sync reset")
        r = env.step(BenchmarkAction(wait_seconds=0.02))
        check(r.observation.step_count == 1 and r.observation.waited_seconds == 0.02, "sync step")
        st = env.state()
        check(st.step_count == 1, "sync state")
    with GenericEnvClient(base_url=base).sync() as env:
        check(env.reset().observation["step_count"] == 0, "generic sync reset")
        check(env.step({"wait_seconds": 0}).observation["step_count"] == 1, "generic sync step")


async def capacity(cap_url: str) -> None:
    held = []
    for _ in range(2):
        c = GenericEnvClient(base_url=cap_url)
        await c.connect()
        await c.reset()
        held.append(c)
    extra = GenericEnvClient(base_url=cap_url)
    try:
        await extra.connect()
        await extra.reset()
        check(False, "third session rejected")
    except RuntimeError as e:
        check("CAPACITY_REACHED" in str(e), f"third session: RuntimeError {e}")
    finally:
        await extra.close()
    for c in held:
        await c.close()
    # The slots come back.
    for attempt in range(50):
        c = GenericEnvClient(base_url=cap_url)
        try:
            await c.connect()
            r = await c.reset()
            check(r.observation["step_count"] == 0, "after release: a new session works")
            await c.close()
            return
        except RuntimeError:
            await c.close()
            await asyncio.sleep(0.05)
    check(False, "after release: a new session works")


async def concurrent(base: str, n: int = 50, wait: float = 0.3) -> None:
    async def one() -> int:
        async with GenericEnvClient(base_url=base) as c:
            await c.reset()
            r = await c.step({"wait_seconds": wait})
            return r.observation["pid"]

    t = time.monotonic()
    pids = await asyncio.gather(*[one() for _ in range(n)])
    took = time.monotonic() - t
    check(len(pids) == n and took < wait + 3.0, f"{n} concurrent sessions with {wait} s steps in {took:.2f} s")


def http_routes(base: str) -> None:
    check(http_json(f"{base}/health") == {"status": "healthy"}, "GET /health")
    schema = http_json(f"{base}/schema")
    check(schema["action"] == BenchmarkAction.model_json_schema(), "/schema action == pydantic's schema")
    check(schema["observation"] == BenchmarkObservation.model_json_schema(), "/schema observation == pydantic's")
    check(schema["state"] == State.model_json_schema(), "/schema state == pydantic's")
    r = http_json(f"{base}/reset", {})
    check(r["observation"]["step_count"] == 0 and r["reward"] is None, "POST /reset")
    r = http_json(f"{base}/step", {"action": {"wait_seconds": 0.01}})
    check(r["observation"]["step_count"] == 1 and r["done"] is False, "POST /step")
    st = http_json(f"{base}/state")
    check(st["step_count"] == 0 and st["episode_id"], "GET /state")


async def release_010(base: str) -> None:
    """What openenv 0.10 added, as its client and a plain socket see it."""
    async with GenericEnvClient(base_url=base) as c:
        r = await c.reset()
        check(r.observation.get("metadata") == {}, "0.10: observation carries metadata {}")
        check(r.metadata is None, "0.10: StepResult.metadata None (no top-level metadata)")
    # A WebSocket attached to a session this server does not have: 0.10's error, as RuntimeError.
    c = GenericEnvClient(base_url=base)
    c._ws_url = base.replace("http://", "ws://") + "/ws?session_id=no-such-session"
    try:
        await c.reset()
        check(False, "0.10: ?session_id= of an unknown session raises")
    except RuntimeError as e:
        check("Unknown session_id: no-such-session" in str(e) and "SESSION_ERROR" in str(e), f"0.10: unknown session_id: {e}")
    finally:
        await c.close()
    # The mcp message over the session's own WebSocket (the raw JSON-RPC envelope).
    from websockets.asyncio.client import connect

    async with connect(base.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list", "params": {}, "id": 1}}))
        r = json.loads(await ws.recv())
        check(r["type"] == "mcp" and r["data"]["error"]["code"] == -32603, "0.10: mcp tools/list answered as without tools")
        await ws.send(json.dumps({"type": "mcp", "data": {"jsonrpc": "2.0", "method": "openenv/session/create", "id": 2}}))
        r = json.loads(await ws.recv())
        check(len(r["data"]["result"]["session_id"]) == 36, "0.10: openenv/session/create names the WS session")
    # MCPToolClient: a session made over POST /mcp, the WebSocket attached to it (?session_id=),
    # the tool calls over POST /mcp in it, then closed; the benchmark environment has no tools.
    from openenv.core.mcp_client import MCPToolClient

    async with MCPToolClient(base_url=base) as m:
        r = await m.reset()
        check(r.done is False, "0.10: MCPToolClient connects (session create + ?session_id= attach) and resets")
        check(await m.list_tools(use_cache=False) == [], "0.10: MCPToolClient lists no tools")
        try:
            await m.call_tool("anything")
            check(False, "0.10: MCPToolClient call_tool fails without tools")
        except RuntimeError as e:
            check("Environment does not support MCP" in str(e), f"0.10: MCPToolClient call_tool: {e}")


def http_010(base: str) -> None:
    from openenv.core.env_server.types import ResetResponse, SchemaResponse, StepResponse

    r = http_json(f"{base}/reset", {})
    check(list(r) == ["observation", "reward", "done", "metadata"] and r["metadata"] is None, "0.10: POST /reset ends in metadata null")
    ResetResponse.model_validate(r)
    r = http_json(f"{base}/step", {"action": {"wait_seconds": 0}})
    StepResponse.model_validate(r)
    check(r["observation"]["metadata"] == {}, "0.10: POST /step observation metadata {}")
    schema = http_json(f"{base}/schema")
    SchemaResponse.model_validate(schema)
    check(schema["reset_observation"] == BenchmarkObservation.model_json_schema(), "0.10: /schema reset_observation")


async def main() -> None:
    base, cap_url = sys.argv[1], sys.argv[2]
    print(f"client_interop: openenv release {RELEASE}", flush=True)
    if IS_010:
        await release_010(base)
        await asyncio.to_thread(http_010, base)
    await typed_async(base)
    await generic_async(base)
    await asyncio.to_thread(sync_wrapper, base)
    await capacity(cap_url)
    await concurrent(base)
    await asyncio.to_thread(http_routes, base)
    print("client_interop: all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
