#!/usr/bin/env bash
# kflow's test command. Installs what the tests need, starts a real Kafka-protocol broker
# (tansu, installed as `nisshi`) and a Confluent-compatible schema registry
# (`rivven-schema`) on free loopback ports, runs every test, and stops both again. Unit,
# property, TestDriver and embedded-broker tests need no set-up; the integration tests
# find the services through KFLOW_TEST_BROKERS and KFLOW_TEST_SCHEMA_REGISTRY.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port WHAT PORT PID LOG: waits up to 30 s until 127.0.0.1:PORT accepts
# connections; exits with WHAT's log if its process PID ends or the time runs out.
wait_for_port() {
    local what=$1 port=$2 pid=$3 log=$4
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then echo "the test ${what} exited:"; cat "$log"; exit 1; fi
        sleep 0.2
    done
    echo "the test ${what} did not accept connections on 127.0.0.1:${port} within 30 s:"; cat "$log"; exit 1
}

port=$(free_port)
url="tcp://127.0.0.1:${port}"
log=$(mktemp)
nisshi broker --listener-url "$url" --advertised-listener-url "$url" --storage-engine memory://tansu/ >"$log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true; rm -f "$log"' EXIT
wait_for_port broker "$port" "$broker" "$log"
export KFLOW_TEST_BROKERS="127.0.0.1:${port}"
echo "test broker: nisshi at ${KFLOW_TEST_BROKERS}"

sr_port=$(free_port)
sr_log=$(mktemp)
rivven-schema serve --host 127.0.0.1 --port "$sr_port" >"$sr_log" 2>&1 &
registry=$!
trap 'kill $broker $registry 2>/dev/null || true; rm -f "$log" "$sr_log"' EXIT
wait_for_port "schema registry" "$sr_port" "$registry" "$sr_log"
export KFLOW_TEST_SCHEMA_REGISTRY="http://127.0.0.1:${sr_port}"
echo "test schema registry: rivven-schema at ${KFLOW_TEST_SCHEMA_REGISTRY}"

results=$(mktemp)
trap 'kill $broker $registry 2>/dev/null || true; rm -f "$log" "$sr_log" "$results"' EXIT
cargo test --workspace --all-targets 2>&1 | tee -a "$results"
cargo test --workspace --doc 2>&1 | tee -a "$results"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
