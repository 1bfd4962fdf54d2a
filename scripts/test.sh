#!/usr/bin/env bash
# kflow's test command. Installs what the tests need, starts a real Kafka-protocol broker
# (tansu, installed as `nisshi`) and a Confluent-compatible schema registry
# (`rivven-schema`) on free loopback ports, runs every test, and stops both again. Unit,
# property, TestDriver and embedded-broker tests need no set-up; the integration tests
# find the services through KFLOW_TEST_BROKERS and KFLOW_TEST_SCHEMA_REGISTRY. The crash
# tests run at their CI size (200 000 records, 5 kills); `scripts/crash.sh` runs them at
# full size.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/services.sh
start_broker
start_registry

results=$(mktemp)
services_logs+=("$results")
# --no-fail-fast: one failing test binary does not hide the others' results.
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee -a "$results"
cargo test --workspace --doc 2>&1 | tee -a "$results"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
