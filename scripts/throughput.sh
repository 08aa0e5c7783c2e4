# Sourced by scripts/bench: the local server's throughput for create + get
# pairs, with wrk (Debian's package), on the embedded store, over loopback.
# shellcheck shell=bash

throughput_section() {
  local dir port token day seed_dir
  dir=$(mktemp -d)
  seed_dir="$dir/seed"
  mkdir -p "$seed_dir"
  # 20 000 patients the creates can name, as batch-write-item files of 25.
  python3 - "$seed_dir" <<'PY'
import json, sys
for f in range(800):
    items = [{"PutRequest": {"Item": {
        "document": {"S": str(80_000_000 + f * 25 + i)},
        "name": {"S": f"Paciente {f * 25 + i}"},
        "email": {"S": f"p{f * 25 + i}@example.pe"}}}} for i in range(25)]
    json.dump({"pe-patient": items}, open(f"{sys.argv[1]}/patients-{f:03}.json", "w"))
PY
  port=$(free_port)
  "$CARGO_TARGET_DIR/release/citas" serve --addr "127.0.0.1:$port" --data-dir "$dir/data" \
    --seed-dir "$seed_dir" >"$dir/server.log" 2>&1 &
  background_pids+=("$!")
  wait_for "http://127.0.0.1:$port/health"
  token=$("$CARGO_TARGET_DIR/release/citas" token --role admin --country pe --data-dir "$dir/data")
  day=$(TZ=America/Lima date +%Y%m%d)
  cat <<TEXT
## Local server throughput

\`citas serve\` (release build, embedded store, 20 000 seeded patients) on loopback, loaded by
wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') for 15 s with 2 threads and 32 connections, each request signed with an admin
token: each thread alternates creating an appointment for the next of its 10 000 patients and
reading it back (\`bench/wrk/create-get.lua\`). Once a thread has gone through its patients its
creates answer 409 (the same patient, the same day); a read that overtakes its create on another
connection answers 404. The status counts per thread follow wrk's summary. Every create is a
durable redb transaction (fsync). Command:

    wrk -t2 -c32 -d15s --latency -s bench/wrk/create-get.lua http://127.0.0.1:PORT -- 80000000 10000 DAY TOKEN

\`\`\`
TEXT
  wrk -t2 -c32 -d15s --latency -s bench/wrk/create-get.lua "http://127.0.0.1:$port" \
    -- 80000000 10000 "$day" "$token" | sed -n '/Latency Distribution/,$p'
  echo '```'
}
