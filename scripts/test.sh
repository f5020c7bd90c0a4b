#!/usr/bin/env bash
# The whole test suite, as CI runs it: format, lints, unit + integration tests (real sockets on
# loopback), interop with the real Python OpenEnv, and (as root) the deployment tests on real
# SLURM, Envoy, HAProxy, nginx and Docker that the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup-python.sh
export OPENENV_PYTHON="$PWD/.venv/bin/python"
export OPENENV010_PYTHON="${OPENENV010_PYTHON:-$PWD/.venv-openenv010/bin/python}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
# A fresh clone running the README's first command; it builds in our target dir so that only the
# workspace crates compile again.
E2E_TARGET_DIR="$PWD/target" tests/e2e/experiment.sh
# pip/uv install the command from the wheel (maturin, pyproject.toml), into a venv without cargo.
tests/pip/test_wheel.sh
if [ -x deploy/tests/run-all.sh ]; then
  if [ "$(id -u)" = 0 ]; then
    deploy/tests/run-all.sh
  else
    echo "deployment tests need root (they start SLURM, dockerd, namespaces): not run" >&2
  fi
fi
echo "test.sh: all passed in $(( $(date +%s) - start )) s"
