#!/usr/bin/env bash
# Installs what building and testing kflow needs on a fresh machine (Rust, gcc, Python and
# apt are assumed): C build tools and libraries for rdkafka's bundled librdkafka, and the
# Kafka-protocol test broker (tansu, published as `nisshi`) and the Confluent-compatible
# schema registry (`rivven-schema`). Skips what is already there.
set -euo pipefail

missing=()
for pkg in make pkg-config libssl-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v nisshi >/dev/null 2>&1; then
    # 0.7.0-pre.2: later versions need a newer rustc than this machine's.
    echo "installing the test broker (nisshi 0.7.0-pre.2, ~11 min on 2 cores)"
    cargo install nisshi --version 0.7.0-pre.2 --locked --features dynostore
fi
if ! command -v rivven-schema >/dev/null 2>&1; then
    echo "installing the test schema registry (rivven-schema 0.0.22, ~5 min on 2 cores)"
    cargo install rivven-schema --version 0.0.22 --locked
fi
