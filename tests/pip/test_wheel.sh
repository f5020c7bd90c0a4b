#!/usr/bin/env bash
# The Python packaging (pyproject.toml: maturin's `bin` bindings), as a Python user meets it:
#
#  1. `pip wheel .`, the PEP 517 build that `pip install .` runs too, builds the wheel once;
#  2. that wheel goes into a fresh venv whose PATH has no cargo: `openenv-bench --version` is the
#     crate's version, and `serve` and `scale` from the venv run against each other (WS and HTTP,
#     N=16, wait 0.1 s), every session successful and answered by that `serve`;
#  3. `maturin build --release`, as a release would build, gives a manylinux wheel of the same
#     binary that pip accepts on this machine by its tag alone, and that `uv tool install` puts
#     on uv's tool PATH;
#  4. `pip install .` in a fresh venv (cargo on PATH, maturin fetched by pip's build isolation as
#     pyproject.toml asks): the README's source route.
#
# Cargo builds into the workspace's target dir with the release profile. After the e2e test's
# `cargo run --release` (same package, same features) only the binary's own crate compiles again
# here, once, because maturin adds `-C strip=symbols` to it; the later builds only repackage.
#
#   tests/pip/test_wheel.sh
#   PIP_BUILD_VENV=/path tests/pip/test_wheel.sh   # where maturin and uv are installed
#                                                  # (default target/pip-build-venv, kept)
set -euo pipefail

MATURIN_VERSION=1.16.0
UV_VERSION=0.13.8

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
build_venv="${PIP_BUILD_VENV:-$CARGO_TARGET_DIR/pip-build-venv}"
tmp="$(mktemp -d)"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"
step_start=$(date +%s)
timed() { # timed LABEL: prints the seconds since the previous call
    local now
    now=$(date +%s)
    echo "time: $1 $((now - step_start)) s"
    step_start=$now
}
die() {
    echo "FAILED: $*" >&2
    exit 1
}

python3 -c 'import venv, ensurepip' 2>/dev/null ||
    die "python3 cannot make venvs (Debian: apt-get install python3-venv)"
crate_version=$(cargo metadata --no-deps --format-version 1 --manifest-path crates/cli/Cargo.toml |
    python3 -c 'import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "openenv-bench"))')
echo "crate openenv-bench $crate_version"

# The build venv: maturin (the build backend, pinned) and uv.
if [ ! -x "$build_venv/bin/python" ]; then
    python3 -m venv "$build_venv"
fi
"$build_venv/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin==$MATURIN_VERSION" "uv==$UV_VERSION"
timed "build venv"

# 1. `pip wheel .` with the pinned maturin (no build isolation: step 4 covers that). The backend
# runs `maturin` from PATH, as an activated venv has it.
PATH="$build_venv/bin:$PATH" "$build_venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
    --no-build-isolation -w "$tmp/pip-wheel" . >"$tmp/pip-wheel.log" 2>&1 ||
    { tail -30 "$tmp/pip-wheel.log"; die "pip wheel ."; }
wheels=("$tmp"/pip-wheel/*.whl)
check "pip wheel . made one wheel (${wheels[*]##*/})" test "${#wheels[@]}" -eq 1 -a -f "${wheels[0]}"
wheel=${wheels[0]}
check "its file name carries the crate version" \
    grep -q "^openenv_bench-${crate_version//./\\.}-py3-none-" <<<"${wheel##*/}"
timed "pip wheel ."

# 2. A fresh venv with no cargo on PATH.
nocargo_path=""
IFS=: read -ra path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
    if [ -n "$d" ] && [ ! -x "$d/cargo" ] && [ ! -x "$d/rustc" ]; then
        nocargo_path="${nocargo_path:+$nocargo_path:}$d"
    fi
done
python3 -m venv "$tmp/venv"
user_path="$tmp/venv/bin:$nocargo_path"
# `user COMMAND...` runs in the fresh venv, as an activated venv would, without cargo. An array,
# not a function: `user ... &` then gives the command's own pid in $! (env execs it).
user=(env -u CARGO_TARGET_DIR -u CARGO_HOME -u RUSTUP_HOME PATH="$user_path" VIRTUAL_ENV="$tmp/venv")
check "no cargo on the venv's PATH" "${user[@]}" bash -c '! command -v cargo && ! command -v rustc'
"${user[@]}" pip install -q --disable-pip-version-check --no-index "$wheel" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; die "pip install of the wheel"; }
check "openenv-bench is on the venv's PATH" \
    test "$("${user[@]}" bash -c 'command -v openenv-bench')" = "$tmp/venv/bin/openenv-bench"
check "pip show reports version $crate_version" \
    grep -qx "Version: $crate_version" <<<"$("${user[@]}" pip show openenv-bench)"
check "openenv-bench --version is the crate's ($crate_version)" \
    test "$("${user[@]}" openenv-bench --version)" = "openenv-bench $crate_version"
check "the installed binary is stripped (no .debug_info)" \
    bash -c "! readelf -S '$tmp/venv/bin/openenv-bench' | grep -q '\.debug_info'"
timed "fresh venv + install"

# serve and scale from the venv, against each other, outside the repository.
cd "$tmp"
"${user[@]}" openenv-bench serve --host 127.0.0.1 --port 0 >"$tmp/serve.log" 2>&1 &
serve_pid=$!
url=$(serve_url "$tmp/serve.log" "$serve_pid") ||
    { cat "$tmp/serve.log"; die "serve from the venv did not announce its address"; }
"${user[@]}" openenv-bench scale -u "$url" --requests-grid 16 --wait-grid 0.1 --compare -o "$tmp/run" \
    >"$tmp/scale.out" 2>"$tmp/scale.err" || { tail -20 "$tmp/scale.err"; die "scale from the venv"; }
check "serve is still running after the scale" kill -0 "$serve_pid"
kill "$serve_pid"
wait "$serve_pid" || true
for f in raw.jsonl summary.csv run.json; do
    check "scale wrote $f" test -s "$tmp/run/$f"
done
# Every session of both cells succeeded, and the `serve` we started (by pid) answered them.
check "summary.csv: ws and http, 16 of 16 successful each, one server pid" python3 - "$tmp/run" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/summary.csv")))
got = sorted((r["mode"], r["num_requests"], r["successful"], r["failed"], r["unique_pids"]) for r in rows)
want = [("http", "16", "16", "0", "1"), ("ws", "16", "16", "0", "1")]
if got != want:
    sys.exit(f"summary.csv: {got} != {want}")
EOF
check "raw.jsonl: 32 successful sessions, all answered by the serve we started (pid $serve_pid)" \
    python3 - "$tmp/run" "$serve_pid" <<'EOF'
import json, sys
recs = [json.loads(line) for line in open(f"{sys.argv[1]}/raw.jsonl")]
ok = sum(1 for r in recs if r["success"])
if len(recs) != 32 or ok != 32:
    sys.exit(f"raw.jsonl: {len(recs)} records, {ok} successful")
pids = {r["pid"] for r in recs}
if pids != {int(sys.argv[2])}:
    sys.exit(f"raw.jsonl: pids {pids}, serve was {sys.argv[2]}")
EOF
check "run.json records version $crate_version" python3 - "$tmp/run" "$crate_version" <<'EOF'
import json, sys
run = json.load(open(f"{sys.argv[1]}/run.json"))
if run.get("version") != sys.argv[2]:
    sys.exit(f"run.json version {run.get('version')!r}")
EOF
serve_pid=""
cd "$repo"
timed "serve + scale"

# 3. The release build: maturin's own auditwheel check tags the wheel manylinux_X_Y by the newest
# glibc symbol the binary uses.
"$build_venv/bin/maturin" build --release --out "$tmp/dist" >"$tmp/maturin.log" 2>&1 ||
    { tail -30 "$tmp/maturin.log"; die "maturin build --release"; }
release_wheels=("$tmp"/dist/*.whl)
release_wheel=${release_wheels[0]}
echo "release wheel: ${release_wheel##*/}"
check "maturin build --release made one wheel" test "${#release_wheels[@]}" -eq 1
check "it is tagged manylinux_X_Y, py3-none (no Python ABI), with the crate version" \
    grep -qE "^openenv_bench-${crate_version//./\\.}-py3-none-manylinux_[0-9]+_[0-9]+_x86_64\.whl$" \
    <<<"${release_wheel##*/}"
python3 -m venv "$tmp/venv-release"
check "pip takes the manylinux wheel by its tag on this machine" \
    "$tmp/venv-release/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    --only-binary :all: --find-links "$tmp/dist" openenv-bench
check "the release wheel holds the same binary as pip's" \
    cmp -s "$tmp/venv/bin/openenv-bench" "$tmp/venv-release/bin/openenv-bench"
# uv's route: `uv tool install` into a tool dir of our own, offline.
UV_TOOL_DIR="$tmp/uv-tools" UV_TOOL_BIN_DIR="$tmp/uv-bin" UV_CACHE_DIR="$tmp/uv-cache" \
    UV_PYTHON_DOWNLOADS=never "$build_venv/bin/uv" tool install -q --offline "$release_wheel" \
    >"$tmp/uv.log" 2>&1 || { cat "$tmp/uv.log"; die "uv tool install"; }
check "uv tool install: openenv-bench --version is $crate_version" \
    test "$("$tmp/uv-bin/openenv-bench" --version)" = "openenv-bench $crate_version"
timed "maturin build --release + installs"

# 4. `pip install .` in a fresh venv, build isolation on: pip fetches maturin as pyproject.toml's
# [build-system] asks, maturin calls cargo.
python3 -m venv "$tmp/venv-source"
"$tmp/venv-source/bin/python" -m pip install -q --disable-pip-version-check . \
    >"$tmp/pip-install.log" 2>&1 || { tail -30 "$tmp/pip-install.log"; die "pip install ."; }
check "pip install .: openenv-bench --version is $crate_version" \
    test "$("$tmp/venv-source/bin/openenv-bench" --version)" = "openenv-bench $crate_version"
timed "pip install ."

checks_done "pip-wheel"
