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

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="tcp://127.0.0.1:${port}"
log=$(mktemp)
nisshi broker --listener-url "$url" --advertised-listener-url "$url" --storage-engine memory://tansu/ >"$log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then break; fi
    if ! kill -0 "$broker" 2>/dev/null; then echo "the test broker exited:"; cat "$log"; exit 1; fi
    sleep 0.2
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    echo "the test broker did not accept connections on 127.0.0.1:${port} within 30 s:"; cat "$log"; exit 1
fi
export KFLOW_TEST_BROKERS="127.0.0.1:${port}"
echo "test broker: nisshi at ${KFLOW_TEST_BROKERS}"

sr_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sr_log=$(mktemp)
rivven-schema serve --host 127.0.0.1 --port "$sr_port" >"$sr_log" 2>&1 &
registry=$!
trap 'kill $broker $registry 2>/dev/null || true; rm -f "$log" "$sr_log"' EXIT
for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${sr_port}") 2>/dev/null; then break; fi
    if ! kill -0 "$registry" 2>/dev/null; then echo "the test schema registry exited:"; cat "$sr_log"; exit 1; fi
    sleep 0.2
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/${sr_port}") 2>/dev/null; then
    echo "the test schema registry did not accept connections on 127.0.0.1:${sr_port} within 30 s:"; cat "$sr_log"; exit 1
fi
export KFLOW_TEST_SCHEMA_REGISTRY="http://127.0.0.1:${sr_port}"
echo "test schema registry: rivven-schema at ${KFLOW_TEST_SCHEMA_REGISTRY}"

results=$(mktemp)
trap 'kill $broker $registry 2>/dev/null || true; rm -f "$log" "$sr_log" "$results"' EXIT
cargo test --workspace --all-targets 2>&1 | tee -a "$results"
cargo test --workspace --doc 2>&1 | tee -a "$results"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
