#!/usr/bin/env bash
# Deploy the benchmark server as a Hugging Face Docker Space.
#
#   deploy/hf_spaces/deploy.sh --repo-id USER/NAME [--private] [--dry-run] [--stage-dir DIR]
#   deploy/hf_spaces/deploy.sh --repo-id USER/NAME --wake [--timeout 600]
#
# Stages a Space: README.md whose front matter says `sdk: docker` and `app_port: 8000`, a
# Dockerfile that runs a static openenv-bench as a non-root user (uid 1000, as Spaces run it) and
# the binary itself, so the Space needs no Rust toolchain and no base image. Then creates the Space
# (if needed) and uploads the staged folder with the huggingface_hub Python API
# (`pip install huggingface_hub`), which needs a token: HF_TOKEN in the environment or `hf auth login`.
#   --dry-run     stop after staging (prints the staged folder)
#   --stage-dir   where to stage (default: a new temp dir; never inside the repository)
#   --wake        wake a sleeping Space: request it until /health answers (first request 503s
#                 while it starts; a free Space sleeps after 48 h without traffic)
# Environment: OPENENV_BENCH_STATIC (a static binary to ship instead of building one),
#   HF_PYTHON (python3: a Python with huggingface_hub),
#   WORKERS (2), MAX_CONCURRENT_ENVS (16384 per worker): baked into the Space's Dockerfile.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPO_ID='' PRIVATE=0 DRY=0 WAKE=0 STAGE='' TIMEOUT=600
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --repo-id) REPO_ID=${2:?}; shift 2 ;;
    --repo-id=*) REPO_ID=${1#*=}; shift ;;
    --private) PRIVATE=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --stage-dir) STAGE=${2:?}; shift 2 ;;
    --wake) WAKE=1; shift ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
[[ $REPO_ID =~ ^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
  { echo "error: --repo-id USER/NAME required (got '${REPO_ID}')" >&2; exit 2; }
# https://USER-NAME.hf.space: lowercase, '_' and '.' become '-'.
SPACE_URL="https://$(echo "${REPO_ID/\//-}" | tr 'A-Z_.' 'a-z--').hf.space"

if [ "$WAKE" = 1 ]; then
  echo "waking $REPO_ID at $SPACE_URL (up to ${TIMEOUT}s) ..."
  deadline=$((SECONDS + TIMEOUT))
  until body=$(curl -s -m 30 "$SPACE_URL/health") && [[ $body == *healthy* ]]; do
    [ $SECONDS -ge $deadline ] && { echo "error: $SPACE_URL/health not healthy after ${TIMEOUT}s" >&2; exit 1; }
    sleep 10
  done
  echo "awake: $SPACE_URL/health -> $body"
  exit 0
fi

BIN=${OPENENV_BENCH_STATIC:-}
if [ -z "$BIN" ]; then
  BIN=$ROOT/target/static/x86_64-unknown-linux-gnu/release/openenv-bench
  echo "building a static openenv-bench (target/static) ..." >&2
  (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
      --target x86_64-unknown-linux-gnu --target-dir target/static --bin openenv-bench >&2)
fi
[ -x "$BIN" ] || { echo "error: no binary at $BIN" >&2; exit 1; }
if command -v readelf >/dev/null && readelf -l "$BIN" | grep -q 'Requesting program interpreter'; then
  echo "error: $BIN is dynamically linked: a FROM scratch Space needs a static build" >&2; exit 1
fi

STAGE=${STAGE:-$(mktemp -d "${TMPDIR:-/tmp}/openenv-space.XXXXXX")}
mkdir -p "$STAGE"
case $(cd "$STAGE" && pwd)/ in "$ROOT"/*) echo "error: stage outside the repository" >&2; exit 2 ;; esac
strip -o "$STAGE/openenv-bench" "$BIN" 2>/dev/null || cp "$BIN" "$STAGE/openenv-bench"   # no debug info: a smaller upload
cat > "$STAGE/README.md" <<EOR
---
title: OpenEnv Bench
emoji: 📈
colorFrom: blue
colorTo: green
sdk: docker
app_port: 8000
pinned: false
short_description: OpenEnv benchmark environment server (openenv-bench)
---

# OpenEnv benchmark environment

The benchmark server of openenv-bench: an OpenEnv environment whose
\`step\` waits \`wait_seconds\`. Measure how many concurrent sessions this Space holds:

    openenv-bench scale -u $SPACE_URL -n 16 -w 1.0 --requests-grid 1,2,4,8,16 --timeout 180

A free Space sleeps after 48 h without traffic; any request wakes it (the first ones answer 503
while it starts), e.g. \`deploy/hf_spaces/deploy.sh --repo-id $REPO_ID --wake\`.
EOR
cat > "$STAGE/Dockerfile" <<EOD
# Hugging Face Docker Space: a static openenv-bench and nothing else (builds without pulling a
# base image). Spaces run the container as uid 1000 and route traffic to app_port 8000.
FROM scratch
COPY --chown=1000:1000 openenv-bench /openenv-bench
ENV PORT=8000 HOST=0.0.0.0 WORKERS=${WORKERS:-2} MAX_CONCURRENT_ENVS=${MAX_CONCURRENT_ENVS:-16384}
EXPOSE 8000
USER 1000:1000
# No shell or curl in the image: the binary checks itself (GET http://127.0.0.1:\$PORT/health).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["/openenv-bench", "health", "--timeout", "2"]
ENTRYPOINT ["/openenv-bench"]
CMD ["serve"]
EOD
printf '%s\n' "openenv-bench filter=lfs diff=lfs merge=lfs -text" > "$STAGE/.gitattributes"
echo "staged Space $REPO_ID in $STAGE:"; ls -la "$STAGE" | sed 1d
if [ "$DRY" = 1 ]; then
  echo "dry run: not uploading. Test it locally: docker build -t space $STAGE && docker run -p 8000:8000 space"
  exit 0
fi

# Upload through the huggingface_hub Python API (its CLI's flags changed between versions):
# create the Docker Space if needed, then upload the staged folder as one commit.
PY=${HF_PYTHON:-python3}
"$PY" -c 'import huggingface_hub' 2>/dev/null ||
  { echo "error: huggingface_hub missing: $PY -m pip install -U huggingface_hub (or set HF_PYTHON)" >&2; exit 1; }
REPO_ID=$REPO_ID PRIVATE=$PRIVATE STAGE=$STAGE "$PY" - <<'PYEOF'
import os, sys
from huggingface_hub import HfApi
api = HfApi()  # token: HF_TOKEN, or the one saved by `hf auth login`
try:
    who = api.whoami()
except Exception as e:  # no or bad token
    sys.exit(f"error: no valid Hugging Face token ({e}): export HF_TOKEN=... or run 'hf auth login'")
repo = os.environ["REPO_ID"]
api.create_repo(repo, repo_type="space", space_sdk="docker",
                private=os.environ["PRIVATE"] == "1", exist_ok=True)
info = api.upload_folder(folder_path=os.environ["STAGE"], repo_id=repo, repo_type="space",
                         commit_message="Deploy openenv-bench server")
print(f"uploaded as {who.get('name', '?')}: {info}")
PYEOF
echo "deployed: https://huggingface.co/spaces/$REPO_ID  -> $SPACE_URL (first start takes a minute)"
echo "then:     openenv-bench scale -u $SPACE_URL --requests-grid 1,2,4,8,16 --timeout 180 --hardware cpu-basic"
