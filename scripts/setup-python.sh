#!/usr/bin/env bash
# Creates .venv with the real Python OpenEnv (openenv-core) and uvicorn, for the interop tests
# and the side-by-side benchmark. Idempotent: re-running only checks the installed versions.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${OPENENV_VENV:-$PWD/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "openenv-core==0.3.0" uvicorn websockets pandas
"$VENV/bin/python" -c 'import openenv.core, uvicorn; print("python venv ready:", openenv.core.__file__)'
