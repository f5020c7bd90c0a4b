#!/usr/bin/env bash
# Hugging Face Spaces: deploy.sh --dry-run stages the Space; the staged Space's own Dockerfile is
# built (offline: FROM scratch + the static binary) and run as a Space runs it: port 8000, the
# image's non-root user, in a network namespace of its own (--network none: only its loopback),
# which the load generator enters with nsenter. A scale cell and the sweep run against it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export DOCKER=/usr/bin/docker DOCKER_HOST=unix://$DEPLOY_WORK/docker/docker.sock
STAGE=$DEPLOY_WORK/hf-space
trap '"$TESTBED/dockerd.sh" down || true' EXIT
[ -x "$STATIC_BIN" ] || die "hf: static binary missing: $STATIC_BIN"

OPENENV_BENCH_STATIC=$STATIC_BIN "$REPO/deploy/hf_spaces/deploy.sh" --repo-id openenv-ci/openenv-bench-test \
  --dry-run --stage-dir "$STAGE" > "$DEPLOY_WORK/hf-deploy.log" 2>&1 || { cat "$DEPLOY_WORK/hf-deploy.log" >&2; die "hf: deploy.sh --dry-run failed"; }
grep -q '^dry run' "$DEPLOY_WORK/hf-deploy.log" || die "hf: --dry-run did not stop after staging"
# The README front matter is what makes it a Docker Space on port 8000.
fm=$(awk 'NR==1 && $0=="---"{f=1; next} f && $0=="---"{exit} f' "$STAGE/README.md")
grep -qx 'sdk: docker' <<<"$fm" || die "hf: front matter lacks 'sdk: docker'"
grep -qx 'app_port: 8000' <<<"$fm" || die "hf: front matter lacks 'app_port: 8000'"
grep -Eq '^USER [1-9][0-9]*(:[0-9]+)?$' "$STAGE/Dockerfile" || die "hf: Dockerfile does not set a non-root numeric USER"
log "hf: staged $(ls "$STAGE" | tr '\n' ' ')"

# The upload path, offline: a stand-in huggingface_hub records what deploy.sh asks of the Hub.
stub=$DEPLOY_WORK/hf-stub; mkdir -p "$stub/huggingface_hub"
cat > "$stub/huggingface_hub/__init__.py" <<'PY'
import json, os
LOG = os.environ["HF_STUB_LOG"]
def _rec(call, **kw):
    with open(LOG, "a") as f:
        f.write(json.dumps({"call": call, **kw}) + "\n")
class HfApi:
    def whoami(self):
        if not os.environ.get("HF_TOKEN"):
            raise RuntimeError("401: no token")
        return {"name": "openenv-ci"}
    def create_repo(self, repo_id, **kw):
        _rec("create_repo", repo_id=repo_id, **kw)
    def upload_folder(self, folder_path, repo_id, **kw):
        _rec("upload_folder", repo_id=repo_id, files=sorted(os.listdir(folder_path)), **kw)
        return "commit-url"
PY
export HF_STUB_LOG=$DEPLOY_WORK/hf-stub.log
if env -u HF_TOKEN PYTHONPATH="$stub" OPENENV_BENCH_STATIC=$STATIC_BIN "$REPO/deploy/hf_spaces/deploy.sh" \
     --repo-id openenv-ci/openenv-bench-test --stage-dir "$DEPLOY_WORK/hf-space-up" > "$DEPLOY_WORK/hf-up0.log" 2>&1; then
  die "hf: deploy.sh uploaded without a token"
fi
grep -q 'no valid Hugging Face token' "$DEPLOY_WORK/hf-up0.log" || die "hf: no clear error without a token: $(tail -1 "$DEPLOY_WORK/hf-up0.log")"
HF_TOKEN=stub PYTHONPATH="$stub" OPENENV_BENCH_STATIC=$STATIC_BIN "$REPO/deploy/hf_spaces/deploy.sh" \
  --repo-id openenv-ci/openenv-bench-test --private --stage-dir "$DEPLOY_WORK/hf-space-up" > "$DEPLOY_WORK/hf-up.log" 2>&1 \
  || { cat "$DEPLOY_WORK/hf-up.log" >&2; die "hf: deploy.sh upload path failed"; }
python3 - "$HF_STUB_LOG" <<'PY' || die "hf: deploy.sh did not create a private Docker Space and upload the staged files"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
assert [c["call"] for c in calls] == ["create_repo", "upload_folder"], calls
c, u = calls
assert c["repo_id"] == "openenv-ci/openenv-bench-test" and c["repo_type"] == "space", c
assert c["space_sdk"] == "docker" and c["private"] is True and c["exist_ok"] is True, c
assert u["repo_type"] == "space" and {"Dockerfile", "README.md", "openenv-bench"} <= set(u["files"]), u
PY
log "hf: upload path (stand-in hub): create_repo(space, docker, private) + upload_folder of the staged Space; refuses without a token"

"$TESTBED/dockerd.sh" up
DOCKER_BUILDKIT=0 $DOCKER build -q -t oeb-space:test "$STAGE" >/dev/null || die "hf: the staged Dockerfile does not build"
cid=$($DOCKER run -d --name oeb-space-test --network none --ulimit nofile=20000:20000 oeb-space:test)
pid=$($DOCKER inspect -f '{{.State.Pid}}' "$cid")
[ "$pid" -gt 0 ] || die "hf: container not running"
in_space() { nsenter --net="/proc/$pid/ns/net" "$@"; }
for _ in $(seq 1 100); do in_space curl -sf -m 1 -o /dev/null http://127.0.0.1:8000/health && break; sleep 0.1; done
in_space curl -sf http://127.0.0.1:8000/health | grep -q healthy || { $DOCKER logs "$cid" >&2; die "hf: no /health on port 8000 inside the Space"; }
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
[ "$uid" != 0 ] || die "hf: the Space's server runs as root"
log "hf: Space container serves on port 8000 as uid $uid"
# The staged Dockerfile's HEALTHCHECK (`openenv-bench health`, first probe after 5 s) must turn healthy.
for _ in $(seq 1 150); do
  hc=$($DOCKER inspect -f '{{.State.Health.Status}}' "$cid"); [ "$hc" = starting ] || break; sleep 0.2
done
[ "$hc" = healthy ] || die "hf: the Space's HEALTHCHECK reports '$hc': $($DOCKER inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$cid")"
log "hf: HEALTHCHECK -> $hc (probe output: $($DOCKER inspect -f '{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.Output}}{{end}}{{end}}' "$cid" | grep '^healthy: ' | tail -n 1 || true))"
run_cell hf-spaces-cell http://127.0.0.1:8000 500 1.0 1 in_space
run_sweep hf-spaces http://127.0.0.1:8000 in_space
$DOCKER stop -t 20 "$cid" >/dev/null
code=$($DOCKER inspect -f '{{.State.ExitCode}}' "$cid")
[ "$code" = 0 ] || die "hf: container exit code $code after docker stop"
log "hf: container stopped cleanly (exit 0)"
