#!/usr/bin/env bash
# Runs kflow's test suite: unit, property, TestDriver and in-memory transport tests, and
# the doc examples. Installs and starts whatever services the tests need (none yet: the
# Kafka-protocol broker and schema registry arrive with their connectors).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
