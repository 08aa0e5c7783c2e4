# Shared by scripts/test and scripts/bench: the cache outside the checkout,
# the Python tools venv, and a moto server on a free loopback port.
# shellcheck shell=bash

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Reuse build products and tools outside the checkout, so a fresh clone (CI)
# does not rebuild or reinstall what this machine already has.
cache="${CITAS_CACHE:-$HOME/.cache/citas}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export SAM_CLI_TELEMETRY=0
venv="$cache/venv"

step() { printf '\n== %s\n' "$*"; }

# The venv with moto, the AWS CLI, cfn-lint, the SAM CLI, cargo-lambda and zig,
# (re)created whenever scripts/requirements-test.txt changes.
ensure_venv() {
  local requirements="$root/scripts/requirements-test.txt"
  if ! cmp -s "$requirements" "$venv/requirements-test.txt" 2>/dev/null; then
    step "installing test tools into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements-test.txt"
  fi
  export PATH="$venv/bin:$PATH"
}

# Starts scripts/moto_server.py on a free port and exports MOTO_ENDPOINT.
start_moto() {
  local port
  port=$(free_port)
  moto_log=$(mktemp)
  python3 "$root/scripts/moto_server.py" "$port" >"$moto_log" 2>&1 &
  moto_pid=$!
  background_pids+=("$moto_pid")
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
  if ! wait_for "$MOTO_ENDPOINT/moto-api/"; then cat "$moto_log"; exit 1; fi
  echo "moto on $MOTO_ENDPOINT"
}

# Whatever the scripts start in the background stops when they exit, also on failure.
background_pids=()
stop_background() {
  for pid in "${background_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -f "${moto_log:-}"
}
trap stop_background EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers (any status), or fails.
wait_for() {
  for _ in $(seq 100); do
    python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$1 did not answer"; return 1
}
