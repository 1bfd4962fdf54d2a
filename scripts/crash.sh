#!/usr/bin/env bash
# The crash harness at full size: kflow apps (a processor, a listener, a windowed count,
# a stateful count) run as child processes against tansu and are killed with SIGKILL at
# random points during a run of 1 000 000 records (10 kills each, release build), then a
# last instance finishes; the run fails if one record is lost or a count is wrong, and
# reports the duplicates. The rebalance runs (one instance, three, one) take 500 000.
# Sizes: KFLOW_CRASH_RECORDS (default here 1000000), KFLOW_CRASH_KILLS (default here
# 10), KFLOW_REBALANCE_RECORDS (default here 500000).
# CI runs the same tests at 200 000 records and 5 kills, rebalances at 100 000
# (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/services.sh
start_broker

export KFLOW_CRASH_RECORDS="${KFLOW_CRASH_RECORDS:-1000000}"
export KFLOW_CRASH_KILLS="${KFLOW_CRASH_KILLS:-10}"
export KFLOW_REBALANCE_RECORDS="${KFLOW_REBALANCE_RECORDS:-500000}"
cargo test --release -p kflow-crash --test kill -- --nocapture --test-threads 1
