#!/usr/bin/env bash
# Long run of the property-based fuzz targets: the inbound message parsers
# (crates/protocol/tests/fuzz.rs) and the server's WebSocket frame path over loopback
# (crates/server/tests/fuzz.rs). The test suite runs them bounded; this runs many more cases.
#
#   bench/fuzz.sh                     # 100000 parser cases per property, 5000 frame-path cases
#   PARSER_CASES=1000000 FRAME_CASES=20000 bench/fuzz.sh
#
# Prints, and appends to bench/out/fuzz.txt, one line per target: cases, seconds, result.
set -euo pipefail
cd "$(dirname "$0")/.."
PARSER_CASES=${PARSER_CASES:-100000}
FRAME_CASES=${FRAME_CASES:-5000}
mkdir -p bench/out
cargo test --release -p openenv-protocol -p openenv-server --test fuzz --no-run >/dev/null 2>&1 \
  || cargo test --release -p openenv-protocol -p openenv-server --test fuzz --no-run
run() { # name package cases
  local start end status=pass
  start=$(date +%s%N)
  PROPTEST_CASES=$3 cargo test --release -q -p "$2" --test fuzz >"bench/out/fuzz-$1.log" 2>&1 || status=FAIL
  end=$(date +%s%N)
  local line
  local ms=$(( (end - start) / 1000000 ))
  line=$(printf '%s fuzz %-7s cases/property=%s seconds=%d.%03d result=%s' \
    "$(date -u +%FT%TZ)" "$1" "$3" $((ms / 1000)) $((ms % 1000)) "$status")
  echo "$line" | tee -a bench/out/fuzz.txt
  [ "$status" = pass ] || { tail -30 "bench/out/fuzz-$1.log"; return 1; }
}
run parser openenv-protocol "$PARSER_CASES"
run frames openenv-server "$FRAME_CASES"
