# shellcheck shell=bash
# Helpers shared by the shell tests (tests/e2e, tests/pip). Sourced, not run:
#   . "$repo/tests/lib.sh"

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: counts and prints the outcome, never exits
    local what="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what"
    fi
}

# checks_done NAME: prints the counts; fails if any check failed.
checks_done() {
    echo "$1: $passed passed, $failed failed"
    test "$failed" -eq 0
}

# serve_url LOG PID: the address an `openenv-bench serve` started in the background (PID) announces
# in LOG. Waits up to 10 s; fails if the server exits or says nothing by then.
serve_url() {
    local url=""
    for _ in $(seq 100); do
        url=$(grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 || true)
        [ -n "$url" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] && echo "$url"
}
