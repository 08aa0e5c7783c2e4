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

# Starts scripts/moto_server.py on a free port, exports MOTO_ENDPOINT, and
# stops it when the calling script exits (also on failure).
start_moto() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  moto_log=$(mktemp)
  python3 "$root/scripts/moto_server.py" "$port" >"$moto_log" 2>&1 &
  moto_pid=$!
  trap stop_moto EXIT
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$MOTO_ENDPOINT/moto-api/" 2>/dev/null && break
    if ! kill -0 "$moto_pid" 2>/dev/null; then cat "$moto_log"; echo "moto did not start"; exit 1; fi
    sleep 0.2
  done
  echo "moto on $MOTO_ENDPOINT"
}

stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$moto_log"
}
