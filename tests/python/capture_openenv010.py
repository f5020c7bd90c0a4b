"""Capture real traffic of the current OpenEnv release (openenv 0.10.0) into golden files.

    .venv-openenv010/bin/python tests/python/capture_openenv010.py [OUT_DIR]

OUT_DIR defaults to crates/server/tests/golden/. It starts the benchmark reference server
(reference_server.py), the echo environment (echo_env.py) and the MCP environment (mcp_env.py)
on 127.0.0.1 under uvicorn, each wrapped in an ASGI recorder, and writes:

- openenv010_ws.txt:      raw WebSocket sessions against the benchmark server (happy path, reset
                          variants, every error, `mcp` messages, `?session_id=`, capacity);
- openenv010_http.txt:    raw HTTP exchanges (status line, headers, body), the 0.3.0 list plus
                          the `metadata` field, `/schema`, and `POST /mcp` variants;
- openenv010_clients.txt: what the real 0.10 clients (EnvClient, GenericEnvClient, `.sync()`,
                          MCPToolClient) send and receive, as the server saw it.

The format is that of the 0.3.0 captures beside them (`## section`, `C->S: `/`S->C: ` lines,
`### title` + HTTP response), so crates/server/tests/golden.rs reads both the same way.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


# --------------------------------------------------------------------------------------------
# The recording server (runs in a child process: capture_openenv010.py --serve MODULE PORT LOG)
# --------------------------------------------------------------------------------------------


def recorder(app: Any, log_path: str) -> Any:
    """ASGI middleware that appends every WS text frame and HTTP exchange to log_path."""
    log = open(log_path, "a", buffering=1)

    def write(line: str) -> None:
        log.write(line.replace("\n", "\\n") + "\n")

    async def wrapped(scope, receive, send):
        if scope["type"] == "websocket":
            qs = scope.get("query_string", b"").decode()
            write(f"WS {scope['path']}{'?' + qs if qs else ''}")

            async def rx():
                m = await receive()
                if m["type"] == "websocket.receive" and m.get("text") is not None:
                    write(f"C->S: {m['text']}")
                return m

            async def tx(m):
                if m["type"] == "websocket.send" and m.get("text") is not None:
                    write(f"S->C: {m['text']}")
                elif m["type"] == "websocket.close":
                    write(f"server close: code={m.get('code', 1000)}")
                await send(m)

            return await app(scope, rx, tx)
        if scope["type"] == "http":
            body = bytearray()
            out = bytearray()
            status = [0]

            async def rx():
                m = await receive()
                if m["type"] == "http.request":
                    body.extend(m.get("body", b""))
                return m

            async def tx(m):
                if m["type"] == "http.response.start":
                    status[0] = m["status"]
                elif m["type"] == "http.response.body":
                    out.extend(m.get("body", b""))
                    if not m.get("more_body"):
                        qs = scope.get("query_string", b"").decode()
                        path = scope["path"] + ("?" + qs if qs else "")
                        write(f"HTTP {scope['method']} {path} {body.decode(errors='replace')}")
                        write(f"HTTP {status[0]} {out.decode(errors='replace')}")
                await send(m)

            return await app(scope, rx, tx)
        return await app(scope, receive, send)

    return wrapped


def serve(module: str, port: int, log_path: str) -> None:
    import importlib

    import uvicorn

    sys.path.insert(0, str(HERE))
    os.environ["PORT"] = str(port)
    app = importlib.import_module(module).app
    uvicorn.run(recorder(app, log_path), host="127.0.0.1", port=port, log_level="warning")


# --------------------------------------------------------------------------------------------
# The capture driver
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, module: str, log_dir: Path, env: Optional[dict] = None) -> None:
        self.port = free_port()
        self.log = log_dir / f"{module}-{self.port}.log"
        self.log.touch()
        self.offset = 0
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", module, str(self.port), str(self.log)],
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{module} exited with {self.proc.returncode}")
                time.sleep(0.1)
        raise RuntimeError(f"{module} did not listen on {self.port}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_log_lines(self) -> List[str]:
        time.sleep(0.3)  # the server finishes writing after the client returns
        text = self.log.read_text()
        lines = text[self.offset :].splitlines()
        self.offset = len(text)
        return lines

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # uvicorn waits for open connections (a sleeping step)
            self.proc.wait()


class Out:
    def __init__(self) -> None:
        self.lines: List[str] = []

    def section(self, title: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.append(f"## {title}")

    def add(self, line: str) -> None:
        self.lines.append(f"  {line}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def ws_session(out: Out, url: str, frames: List[Any], title: str, close: bool = False) -> None:
    """Send each frame and record each reply; a list inside `frames` is sent pipelined."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    out.section(title)
    with connect(url, compression=None) as ws:
        for item in frames:
            batch = item if isinstance(item, list) else [item]
            for f in batch:
                ws.send(f)
                out.add(f"C->S: {f}")
            for _ in batch:
                try:
                    reply = ws.recv(timeout=5)
                except TimeoutError:
                    out.add("(no reply within 5 s)")
                    return
                except ConnectionClosed as e:
                    out.add(f"[closed] code={e.rcvd.code if e.rcvd else None}")
                    return
                out.add(f"S->C: {reply}")
        if close:
            try:
                ws.recv(timeout=5)
            except ConnectionClosed as e:
                out.add(f"[after close] server close frame: code={e.rcvd.code if e.rcvd else None}")


def ws_unsolicited(out: Out, url: str, title: str) -> None:
    """Connect, send nothing, record what the server sends and how it closes."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    out.section(title)
    with connect(url, compression=None) as ws:
        try:
            while True:
                out.add(f"S->C (unsolicited): {ws.recv(timeout=10)}")
        except ConnectionClosed as e:
            out.add(f"server close frame: code={e.rcvd.code if e.rcvd else None}")


def http_exchange(
    lines: List[str], port: int, title: str, method: str, path: str, ctype: Optional[str], body: Optional[str]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {} if ctype is None else {"Content-Type": ctype}
    conn.request(method, path, body=None if body is None else body.encode(), headers=headers)
    lines.append(f"### {title}")
    try:
        r = conn.getresponse()
    except TimeoutError:
        lines.append("(no reply within 5 s)")
        lines.append("")
        conn.close()
        return
    data = r.read().decode()
    conn.close()
    lines.append(f"HTTP/1.1 {r.status} {r.reason}")
    for k, v in r.getheaders():
        lines.append(f"{k}: {v}")
    lines.append("")
    lines.append(data)
    lines.append("")


def record_log(out: Out, server: Server) -> None:
    for line in server.new_log_lines():
        out.add(line)


MCP_LIST = '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list", "params": {}, "id": 1}}'
MCP_CALL = (
    '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/call", '
    '"params": {"name": "echo", "arguments": {"message": "hi"}}, "id": 2}}'
)


def capture_ws(bench: Server, cap2: Server) -> str:
    out = Out()
    url = f"ws://127.0.0.1:{bench.port}/ws"
    ws_session(
        out,
        url,
        [
            '{"type": "reset", "data": {}}',
            '{"type": "step", "data": {"wait_seconds": 0.1}}',
            '{"type": "state"}',
            '{"type": "step", "data": {"wait_seconds": 0.0}}',
            '{"type": "state"}',
            '{"type": "close"}',
        ],
        "Session A: full happy path (reset, step, state, step, close)",
        close=True,
    )
    ws_session(
        out,
        url,
        [
            '{"type": "state"}',
            '{"type": "reset"}',
            '{"type": "reset", "data": {"seed": 42, "episode_id": "ep-1"}}',
            '{"type": "step", "data": {}}',
        ],
        "Session B: reset with params; 'data' omitted on reset; state before reset",
    )
    ws_session(
        out,
        url,
        [
            "{not json",
            '{"type": "bogus"}',
            '{"foo": 1}',
            '{"type": "step"}',
            '{"type": "step", "data": {"wait_seconds": "abc"}}',
            '{"type": "step", "data": {"bogus": 1}}',
            '{"type": "step", "data": {"wait_seconds": 0}, "extra": 1}',
            '{"type": "state", "data": {}}',
            '{"type": "close", "data": {}}',
            '{"type": "step", "data": {"wait_seconds": 0, "metadata": {"k": "v"}}}',
            '{"type": "reset", "data": {}}',
        ],
        "Session C: error cases (connection stays open after each)",
    )
    ws_session(
        out,
        url,
        [
            MCP_LIST,
            MCP_CALL,
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/call", "params": {}, "id": 3}}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "resources/list", "params": {}, "id": "r-4"}}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list"}}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "openenv/session/close", "params": {}, "id": 5}}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "openenv/session/close", '
            '"params": {"session_id": "no-such-session"}, "id": 6}}',
            '{"type": "mcp"}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list", "params": {}, "id": 7}, "extra": 1}',
            '{"type": "reset", "data": {}}',
        ],
        "Session M: mcp messages (an environment without MCP tools)",
    )
    ws_session(
        out,
        url,
        [
            '{"type": "mcp", "data": {"method": "tools/list", "id": 1}}',
            '{"type": "mcp", "data": {"jsonrpc": "1.0", "method": "tools/list", "id": 2}}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list", "params": [], "id": 3}}',
            '{"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list", "id": 4, "x": 1}}',
        ],
        "Session N: malformed mcp JSON-RPC payloads",
    )
    ws_session(
        out,
        url,
        ['{"type": "step", "data": {"wait_seconds": 1e+300}}'],
        "Session H: a huge wait (the environment sleeps it)",
    )
    ws_unsolicited(out, f"{url}?session_id=no-such-session", "Session S: ?session_id= of an unknown session")
    ws_session(
        out,
        f"{url}?session_id=",
        ['{"type": "reset", "data": {}}'],
        "Session T: empty ?session_id= (a new session)",
    )
    ws_session(
        out,
        f"{url}?other=1",
        ['{"type": "reset", "data": {}}'],
        "Session U: another query parameter (a new session)",
    )
    ws_session(
        out,
        url,
        [
            [
                '{"type": "reset", "data": {}}',
                '{"type": "step", "data": {"wait_seconds": 0.05}}',
                '{"type": "step", "data": {"wait_seconds": 0}}',
            ]
        ],
        "Session F: pipelining (send reset+step+step without waiting)",
    )

    # Capacity: hold 2 sessions on the capacity-2 server, then open a third.
    from websockets.sync.client import connect

    cap_url = f"ws://127.0.0.1:{cap2.port}/ws"
    out.section("Capacity: hold 2 sessions, then open one more")
    held = []
    for _ in range(2):
        ws = connect(cap_url, compression=None).__enter__()
        ws.send('{"type": "reset", "data": {}}')
        out.add('C->S: {"type": "reset", "data": {}}')
        out.add(f"S->C: {ws.recv(timeout=10)}")
        held.append(ws)
    sub = Out()
    ws_unsolicited(sub, cap_url, "x")
    for line in sub.lines[1:]:
        out.lines.append(line)
    for ws in held:
        ws.close()
    return out.text()


HTTP_CASES = [
    ("GET /health", "GET", "/health", None, None),
    ("GET /state", "GET", "/state", None, None),
    ("GET /metadata", "GET", "/metadata", None, None),
    ("GET /schema", "GET", "/schema", None, None),
    ("POST /reset (no body)", "POST", "/reset", None, None),
    ("POST /reset {}", "POST", "/reset", "application/json", "{}"),
    ('POST /reset {"seed":42,"episode_id":"ep-1"}', "POST", "/reset", "application/json", '{"seed":42,"episode_id":"ep-1"}'),
    ('POST /step {"action":{"wait_seconds":0.1}}', "POST", "/step", "application/json", '{"action":{"wait_seconds":0.1}}'),
    ('POST /step {"action":{}}', "POST", "/step", "application/json", '{"action":{}}'),
    (
        'POST /step {"action":{"wait_seconds":0,"metadata":{"k":"v"}}}',
        "POST",
        "/step",
        "application/json",
        '{"action":{"wait_seconds":0,"metadata":{"k":"v"}}}',
    ),
    ('POST /step {"action":{"wait_seconds":"abc"}}  (invalid type)', "POST", "/step", "application/json", '{"action":{"wait_seconds":"abc"}}'),
    ('POST /step {"action":{"bogus":1}}  (extra field, Action extra=forbid)', "POST", "/step", "application/json", '{"action":{"bogus":1}}'),
    ("POST /step {} (missing action)", "POST", "/step", "application/json", "{}"),
    ("POST /step (no body)", "POST", "/step", None, None),
    (
        'POST /step {"action":{"wait_seconds":0.0},"timeout_s":5,"request_id":"r1","extra":1}',
        "POST",
        "/step",
        "application/json",
        '{"action":{"wait_seconds":0.0},"timeout_s":5,"request_id":"r1","extra":1}',
    ),
    (
        'POST /step {"action":{"wait_seconds":0.0},"timeout_s":0}  (timeout_s must be >0)',
        "POST",
        "/step",
        "application/json",
        '{"action":{"wait_seconds":0.0},"timeout_s":0}',
    ),
    ('POST /reset {"seed":-1} (seed ge=0)', "POST", "/reset", "application/json", '{"seed":-1}'),
    ("GET /reset (wrong method)", "GET", "/reset", None, None),
    ("GET /ws (plain HTTP to WS route)", "GET", "/ws", None, None),
    ("GET /web", "GET", "/web", None, None),
    ("GET /", "GET", "/", None, None),
    ("POST /reset with invalid JSON", "POST", "/reset", "application/json", "{bad json"),
    ("POST /step with content-type text/plain", "POST", "/step", "text/plain", '{"action":{}}'),
    (
        "POST /step wait_seconds=1e300",
        "POST",
        "/step",
        "application/json",
        '{"action":{"wait_seconds":1e300}}',
    ),
    ("POST /mcp tools/list", "POST", "/mcp", "application/json", '{"jsonrpc":"2.0","method":"tools/list","params":{},"id":1}'),
    (
        "POST /mcp tools/call",
        "POST",
        "/mcp",
        "application/json",
        '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}},"id":2}',
    ),
    ("POST /mcp tools/call without name", "POST", "/mcp", "application/json", '{"jsonrpc":"2.0","method":"tools/call","params":{},"id":3}'),
    ("POST /mcp unknown method", "POST", "/mcp", "application/json", '{"jsonrpc":"2.0","method":"resources/list","params":{},"id":"r-4"}'),
    (
        "POST /mcp tools/list with an unknown session_id",
        "POST",
        "/mcp",
        "application/json",
        '{"jsonrpc":"2.0","method":"tools/list","params":{"session_id":"no-such-session"},"id":5}',
    ),
    (
        "POST /mcp openenv/session/close without session_id",
        "POST",
        "/mcp",
        "application/json",
        '{"jsonrpc":"2.0","method":"openenv/session/close","params":{},"id":6}',
    ),
    (
        "POST /mcp openenv/session/close with an unknown session_id",
        "POST",
        "/mcp",
        "application/json",
        '{"jsonrpc":"2.0","method":"openenv/session/close","params":{"session_id":"no-such-session"},"id":7}',
    ),
    ("POST /mcp invalid JSON", "POST", "/mcp", "application/json", "{bad json"),
    ("POST /mcp without jsonrpc", "POST", "/mcp", "application/json", '{"method":"tools/list","id":8}'),
    ("GET /mcp (wrong method)", "GET", "/mcp", None, None),
]


def capture_http(bench: Server) -> str:
    lines: List[str] = []
    for case in HTTP_CASES:
        http_exchange(lines, bench.port, *case)
    return "\n".join(lines) + "\n"


async def capture_clients(bench: Server, echo: Server, mcp: Server) -> str:
    from openenv.core import EnvClient, GenericEnvClient
    from openenv.core.client_types import StepResult
    from openenv.core.env_server.types import State
    from openenv.core.mcp_client import MCPToolClient

    sys.path.insert(0, str(HERE))
    from benchmark_models import BenchmarkAction, BenchmarkObservation

    class BenchmarkEnv(EnvClient[BenchmarkAction, BenchmarkObservation, State]):
        def _step_payload(self, action: BenchmarkAction) -> dict:
            return {"wait_seconds": action.wait_seconds}

        def _parse_result(self, payload: dict) -> StepResult:
            return StepResult(
                observation=BenchmarkObservation(**payload.get("observation", {})),
                reward=payload.get("reward"),
                done=payload.get("done", False),
            )

        def _parse_state(self, payload: dict) -> State:
            return State(**payload)

    out = Out()

    def section(title: str, server: Server, results: List[str]) -> None:
        out.section(title)
        record_log(out, server)
        for r in results:
            out.add(r)

    bench.new_log_lines()
    async with BenchmarkEnv(base_url=bench.base) as env:
        r1 = await env.reset()
        r2 = await env.step(BenchmarkAction(wait_seconds=0.05))
        st = await env.state()
    section("async EnvClient (BenchmarkEnv)", bench, [f"reset -> {r1!r}", f"step -> {r2!r}", f"state -> {st!r}"])

    async with GenericEnvClient(base_url=bench.base) as g:
        r1 = await g.reset(seed=1)
        r2 = await g.step({"wait_seconds": 0})
        try:
            await g.step({"bogus": 1})
            err = "no error"
        except RuntimeError as e:
            err = f"raised RuntimeError: {e}"
    section("async GenericEnvClient", bench, [f"reset -> {r1!r}", f"step -> {r2!r}", err])

    def sync_run() -> List[str]:
        with BenchmarkEnv(base_url=bench.base).sync() as env:
            return [f"reset -> {env.reset()!r}", f"step -> {env.step(BenchmarkAction(wait_seconds=0.0))!r}"]

    res = await asyncio.to_thread(sync_run)
    section("sync wrapper: BenchmarkEnv(...).sync()", bench, res)

    g = GenericEnvClient(base_url=bench.base)
    g._ws_url = f"ws://127.0.0.1:{bench.port}/ws?session_id=no-such-session"  # as MCPToolClient attaches
    try:
        await g.reset()
        err = "no error"
    except Exception as e:  # noqa: BLE001 - recorded as captured
        err = f"raised {type(e).__name__}: {e}"
    finally:
        await g.close()
    section("GenericEnvClient on ?session_id= of an unknown session", bench, [err])

    mcp_tool = MCPToolClient(base_url=bench.base)
    try:
        await mcp_tool.connect()
        err = f"connected; list_tools -> {await mcp_tool.list_tools()!r}"
    except Exception as e:  # noqa: BLE001
        err = f"raised {type(e).__name__}: {e}"
    finally:
        await mcp_tool.close()
    section("MCPToolClient against the benchmark environment (no tools)", bench, [err])

    echo.new_log_lines()
    async with GenericEnvClient(base_url=echo.base) as g:
        r1 = await g.reset()
        r2 = await g.step({"message": "hello"})
        try:
            await g.step({"message": ""})
            err = "no error"
        except RuntimeError as e:
            err = f"raised RuntimeError: {e}"
    section("echo environment: GenericEnvClient", echo, [f"reset -> {r1!r}", f"step -> {r2!r}", err])

    capture_http_lines(echo, [
        ("POST /reset", "POST", "/reset", "application/json", "{}"),
        ('POST /step {"action":{"message":"hello"}}', "POST", "/step", "application/json", '{"action":{"message":"hello"}}'),
        ('POST /step {"action":{"message":""}}', "POST", "/step", "application/json", '{"action":{"message":""}}'),
    ])
    section("echo environment: HTTP", echo, [])

    mcp.new_log_lines()
    async with MCPToolClient(base_url=mcp.base) as m:
        r0 = await m.reset()
        tools = await m.list_tools()
        echoed = await m.call_tool("echo", message="hi")
        added = await m.call_tool("add", a=2, b=3)
    section(
        "MCPToolClient against the MCP environment",
        mcp,
        [f"reset -> {r0!r}", f"list_tools -> {[t.name for t in tools]}", f"call_tool echo -> {echoed!r}", f"call_tool add -> {added!r}"],
    )

    ws_session(out, f"ws://127.0.0.1:{mcp.port}/ws", [MCP_LIST, MCP_CALL, '{"type": "step", "data": {"type": "list_tools"}}'],
               "MCP environment: raw mcp and step messages")
    mcp.new_log_lines()
    return out.text()


def capture_http_lines(server: Server, cases) -> List[str]:
    lines: List[str] = []
    for case in cases:
        http_exchange(lines, server.port, *case)
    return lines


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    import importlib.metadata as md

    version = md.version("openenv")
    if version != "0.10.0":
        sys.exit(f"capture_openenv010: openenv {version} installed, expected 0.10.0 (run scripts/setup-python.sh)")
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "crates/server/tests/golden"
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        servers = []
        try:
            bench = Server("reference_server", logs)
            cap2 = Server("reference_server", logs, {"MAX_CONCURRENT_ENVS": "2"})
            echo = Server("echo_env", logs)
            mcp = Server("mcp_env", logs)
            servers = [bench, cap2, echo, mcp]
            ws = capture_ws(bench, cap2)
            http_text = capture_http(bench)
            clients = asyncio.run(capture_clients(bench, echo, mcp))
        finally:
            for s in servers:
                s.stop()
    header = f"(openenv {version}, captured by tests/python/capture_openenv010.py)\n"
    (out_dir / "openenv010_ws.txt").write_text(header + ws)
    (out_dir / "openenv010_http.txt").write_text(header + http_text)
    (out_dir / "openenv010_clients.txt").write_text(header + clients)
    print(f"capture_openenv010: wrote 3 files to {out_dir}")


if __name__ == "__main__":
    main()
