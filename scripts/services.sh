#!/usr/bin/env bash
# Sourced by test.sh and crash.sh: installs what the tests need (install-deps.sh), and
# gives `start_broker` (tansu, installed as `nisshi`) and `start_registry`
# (`rivven-schema`), which start them on free loopback ports and export
# KFLOW_TEST_BROKERS and KFLOW_TEST_SCHEMA_REGISTRY; both stop when the calling script
# exits.

bash "$(dirname "${BASH_SOURCE[0]}")/install-deps.sh"
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

services_pids=()
services_logs=()
trap 'kill "${services_pids[@]}" 2>/dev/null || true; rm -f "${services_logs[@]}"' EXIT

# start_broker: tansu on a free port, in memory.
start_broker() {
    local port url log
    port=$(free_port)
    url="tcp://127.0.0.1:${port}"
    log=$(mktemp)
    nisshi broker --listener-url "$url" --advertised-listener-url "$url" --storage-engine memory://tansu/ >"$log" 2>&1 &
    services_pids+=($!)
    services_logs+=("$log")
    wait_for_port broker "$port" "$!" "$log"
    export KFLOW_TEST_BROKERS="127.0.0.1:${port}"
    echo "test broker: nisshi at ${KFLOW_TEST_BROKERS}"
}

# start_registry: rivven-schema on a free port, in memory.
start_registry() {
    local port log
    port=$(free_port)
    log=$(mktemp)
    rivven-schema serve --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
    services_pids+=($!)
    services_logs+=("$log")
    wait_for_port "schema registry" "$port" "$!" "$log"
    export KFLOW_TEST_SCHEMA_REGISTRY="http://127.0.0.1:${port}"
    echo "test schema registry: rivven-schema at ${KFLOW_TEST_SCHEMA_REGISTRY}"
}
