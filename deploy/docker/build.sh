#!/usr/bin/env bash
# Build the FROM scratch image (deploy/docker/Dockerfile) holding a static openenv-bench.
#   deploy/docker/build.sh [IMAGE=openenv-bench:latest]
# Environment: DOCKER (docker), OPENENV_BENCH_STATIC (use this static binary instead of building).
# The static build goes to target/static so it does not invalidate the normal target/ dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${1:-openenv-bench:latest}
DOCKER=${DOCKER:-docker}
BIN=${OPENENV_BENCH_STATIC:-}
if [ -z "$BIN" ]; then
  BIN=$ROOT/target/static/x86_64-unknown-linux-gnu/release/openenv-bench
  (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
      --target x86_64-unknown-linux-gnu --target-dir target/static --bin openenv-bench >&2)
fi
# A static binary has no interpreter (PT_INTERP): the only kind that runs in a scratch image.
if command -v readelf >/dev/null && readelf -l "$BIN" | grep -q 'Requesting program interpreter'; then
  echo "error: $BIN is dynamically linked; build it with RUSTFLAGS=\"-C target-feature=+crt-static\"" >&2
  exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# Debug info is for local profiling; the image does not need it (49 MB -> ~10 MB).
strip -o "$ctx/openenv-bench" "$BIN" 2>/dev/null || cp "$BIN" "$ctx/openenv-bench"
cp "$ROOT/deploy/docker/Dockerfile" "$ctx/Dockerfile"
DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$IMAGE" "$ctx" >/dev/null
echo "built $IMAGE ($(du -h "$ctx/openenv-bench" | cut -f1) static binary)" >&2
