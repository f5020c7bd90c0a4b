#!/usr/bin/env bash
# Creates the two Python venvs of the interop tests and the side-by-side benchmark:
# - .venv (override: OPENENV_VENV): openenv-core 0.3.0, the release the benchmark was built against;
# - .venv-openenv010 (override: OPENENV010_VENV): openenv 0.10.0, the current release, with every
#   package pinned in scripts/requirements-openenv010.txt.
# Idempotent: re-running only checks the installed versions.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${OPENENV_VENV:-$PWD/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "openenv-core==0.3.0" uvicorn websockets pandas
"$VENV/bin/python" -c 'import openenv.core, uvicorn; print("python venv ready:", openenv.core.__file__)'

VENV010=${OPENENV010_VENV:-$PWD/.venv-openenv010}
if [ ! -x "$VENV010/bin/python" ]; then
  python3 -m venv "$VENV010"
fi
"$VENV010/bin/python" -m pip install -q --disable-pip-version-check \
  -r scripts/requirements-openenv010.txt
"$VENV010/bin/python" - <<'PY'
import importlib.metadata as md
import openenv.core, uvicorn, fastmcp  # noqa: F401  (the server, its ASGI runner, the MCP env)
v = md.version("openenv")
assert v == "0.10.0", f"openenv {v} installed, expected 0.10.0"
print("python venv (openenv 0.10.0) ready:", openenv.core.__file__)
PY
