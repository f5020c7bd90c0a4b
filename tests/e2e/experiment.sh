#!/usr/bin/env bash
# End to end, as a new user would: a fresh clone of the repository, the README's first command
# (`cargo run --release -- experiment`), then the tables, figures, log and results must exist.
# The README's second command (the test suite) is only checked to exist: running it here would
# recurse into this test.
#
#   tests/e2e/experiment.sh            # from the repository (or CI)
#   E2E_TARGET_DIR=/path tests/e2e/experiment.sh   # where the clone builds (default: target/e2e-clone,
#                                                  # kept between runs so dependencies build once)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/lib.sh
. "$repo/tests/lib.sh"

git clone -q "$repo" "$tmp/clone"
cd "$tmp/clone"
export CARGO_TARGET_DIR="${E2E_TARGET_DIR:-$repo/target/e2e-clone}"

# The README's two commands: the first two lines of its first ```sh block.
mapfile -t readme_cmds < <(awk '/^```sh/{on=1; next} /^```/{if(on) exit} on' README.md |
    sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' | head -2)
check "README's first command is 'cargo run --release -- experiment'" \
    test "${readme_cmds[0]:-}" = "cargo run --release -- experiment"
check "README's second command (${readme_cmds[1]:-none}) exists" \
    test -x "${readme_cmds[1]:-/nonexistent}"

start=$(date +%s)
bash -c "${readme_cmds[0]}" >"$tmp/stdout" 2>"$tmp/stderr" || {
    echo "FAILED: ${readme_cmds[0]} exited $?"
    tail -40 "$tmp/stderr"
    exit 1
}
echo "experiment (build + run) took $(($(date +%s) - start)) s"

reports=experiments/reports
run_dir=$(ls -d experiments/results/local-native/*/ | tail -1)
check "results in experiments/results/local-native/<date>/" test -s "$run_dir/summary.csv"
# The default experiment searches the capacity: at least a few cells per protocol, the answer
# in capacity.json (one entry per protocol) and printed first on stdout.
check "searched cells in summary.csv" test "$(wc -l <"$run_dir/summary.csv")" -ge 5
check "capacity.json written" test -s "$run_dir/capacity.json"
for mode in ws http; do
    check "capacity.json has $mode" grep -q "\"mode\": \"$mode\"" "$run_dir/capacity.json"
done
check "answer printed first" bash -c "head -1 '$tmp/stdout' | grep -q '^capacity (largest N where'"
for line in "  WS, wait 1 s: " "  HTTP, wait 1 s: "; do
    check "stdout answers '$line'" grep -qF "$line" "$tmp/stdout"
done
check "run.json records the cores" grep -q '"server_cores"' "$run_dir/run.json"
check "tables.md written" test -s "$reports/tables.md"
for row in "| local-native | ws |" "| local-native | http |" "## Table 4: Batch per core"; do
    check "tables.md has '$row'" grep -qF "$row" "$reports/tables.md"
done
check "tables printed on stdout" grep -qF "## Table 1" "$tmp/stdout"
for fig in scaling_curves max_batch_comparison latency_heatmap batch_per_core latency_percentiles; do
    f="$reports/figures/$fig.png"
    check "$f is a PNG over 10 kB" bash -c "test \$(stat -c %s '$f') -gt 10000 &&
        head -c 8 '$f' | od -An -tx1 | tr -d ' \n' | grep -q '^89504e470d0a1a0a$'"
    check "stdout names $f" grep -qF "$f" "$tmp/stdout"
done
check "EXPERIMENT_LOG.md has the run" grep -q '<!-- entry: local-native/' "$reports/EXPERIMENT_LOG.md"
# And the analyzer alone, on what the experiment wrote (the Python original's --all).
check "analyze --all finds the run" bash -c \
    "'$CARGO_TARGET_DIR/release/openenv-bench' analyze --all --tables-only --no-log | grep -qF '| local-native | ws |'"

# Against an external deployment: `serve` in its own process, `experiment --url ... --infra ...`.
bin="$CARGO_TARGET_DIR/release/openenv-bench"
"$bin" serve --host 127.0.0.1 --port 0 --max-concurrent-envs 4 >"$tmp/serve.log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
url=$(serve_url "$tmp/serve.log" "$serve_pid") ||
    { cat "$tmp/serve.log"; echo "FAILED: serve did not announce its address"; exit 1; }
"$bin" experiment --url "$url" --infra e2e-external --cores 1 --requests-grid 1,4,8 --cooldown 0.1 \
    >"$tmp/ext.out" 2>"$tmp/ext.err" || { tail -20 "$tmp/ext.err"; false; }
kill "$serve_pid"
# 8 WebSocket sessions against a cap of 4: 4 are refused (CAPACITY_REACHED) -> ws max batch 4;
# HTTP has no cap -> 8, the largest tested (†).
check "external run: ws max batch 4 (server cap)" grep -qF "| e2e-external | ws | 4 |" "$tmp/ext.out"
check "external run: http max batch 8" grep -qF "| e2e-external | http | 8 † |" "$tmp/ext.out"
check "external run: --cores recorded" grep -qF "| e2e-external | 1 | run.json | ws | 1.0 | 4 | 4.0 |" "$tmp/ext.out"

checks_done "e2e experiment"
