"""The test environments of tests/python/ (echo_env.py, mcp_env.py) served by openenv 0.10's
`create_app` and driven by the real 0.10 clients, so that they are known to work.

Usage: python env_interop.py   (with .venv-openenv010's python)

Starts both servers on free loopback ports (uvicorn, as `python echo_env.py` does), runs the
checks, stops them. Run by crates/server/tests/interop.rs. Exits non-zero on the first failure.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from openenv.core import GenericEnvClient
from openenv.core.mcp_client import MCPToolClient

HERE = Path(__file__).resolve().parent


def check(cond: bool, what: str) -> None:
    if not cond:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(script: str) -> tuple:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / script)],
        env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port)},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                check(False, f"{script} exited with {proc.returncode}")
            time.sleep(0.2)
    proc.kill()
    check(False, f"{script} healthy within 120 s")


def post(url: str, body: dict) -> tuple:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def echo_checks(base: str) -> None:
    async with GenericEnvClient(base_url=base) as c:
        r = await c.reset()
        check(r.observation["echoed_message"] == "" and r.done is False, "echo WS: reset")
        r = await c.step({"message": "hello"})
        check(r.observation["echoed_message"] == "hello" and r.observation["message_length"] == 5, "echo WS: step echoes")
        check(r.reward == 5.0 and r.metadata == {"step": 1}, "echo WS: reward and top-level metadata")
        try:
            await c.step({"message": ""})
            check(False, "echo WS: empty message rejected")
        except RuntimeError as e:
            check("VALIDATION_ERROR" in str(e), f"echo WS: empty message rejected: {e}")
        r = await c.step({"message": "again"})
        check(r.observation["message_length"] == 5 and r.metadata == {"step": 2}, "echo WS: session usable after the error")
        st = await c.state()
        check(st["step_count"] == 2, "echo WS: state counts valid steps")

    def sync_run() -> None:
        with GenericEnvClient(base_url=base).sync() as c:
            c.reset()
            check(c.step({"message": "abc"}).observation["message_length"] == 3, "echo .sync(): step")

    await asyncio.to_thread(sync_run)
    status, body = post(f"{base}/step", {"action": {"message": "hi"}})
    check(status == 200 and body["observation"]["echoed_message"] == "hi" and body["metadata"] == {"step": 1}, "echo HTTP: step")
    status, body = post(f"{base}/step", {"action": {"message": ""}})
    check(status == 422 and body["detail"][0]["type"] == "string_too_short", "echo HTTP: empty message is a 422")


async def mcp_checks(base: str) -> None:
    async with MCPToolClient(base_url=base) as m:
        await m.reset()
        tools = await m.list_tools()
        check(sorted(t.name for t in tools) == ["add", "echo"], f"MCPToolClient: list_tools {[t.name for t in tools]}")
        check(await m.call_tool("echo", message="hi") == "hi", "MCPToolClient: call_tool echo")
        check(await m.call_tool("add", a=2, b=3) == 5, "MCPToolClient: call_tool add")
    # The same tools through step actions and through the WS mcp message.
    async with GenericEnvClient(base_url=base) as c:
        await c.reset()
        r = await c.step({"type": "list_tools"})
        check(sorted(t["name"] for t in r.observation["tools"]) == ["add", "echo"], "step list_tools")
        r = await c.step({"type": "call_tool", "tool_name": "add", "arguments": {"a": 1, "b": 1}})
        check(r.observation["result"]["data"] == 2, f"step call_tool add: {r.observation['result']}")
    from websockets.asyncio.client import connect

    async with connect(base.replace("http://", "ws://") + "/ws") as ws:
        await ws.send(json.dumps({"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "x"}}, "id": 9}}))
        r = json.loads(await ws.recv())
        check(r["type"] == "mcp" and r["data"]["id"] == 9 and r["data"]["result"]["data"] == "x", "WS mcp tools/call")


async def main() -> None:
    procs = []
    try:
        echo, echo_url = start("echo_env.py")
        procs.append(echo)
        mcp, mcp_url = start("mcp_env.py")
        procs.append(mcp)
        await echo_checks(echo_url)
        await mcp_checks(mcp_url)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    print("env_interop: all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
