#!/usr/bin/env bash
# Compares the on-disk engines kflow could keep state in (docs/state-engines.md): for
# each of redb, fjall and rocksdb, a clean release build of the bench with only that
# engine (its build time on this machine, dependencies included), then the bench itself.
# Takes about 15 minutes on 2 cores, most of it building RocksDB's C++. RocksDB's
# bindings need libclang (Debian's libclang-dev), installed here when missing.
set -euo pipefail
if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
  sudo_if_needed=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo_if_needed apt-get install -y -q libclang-dev >/dev/null
fi
cd "$(dirname "$0")/../benches/state-engines"
engines=${KFLOW_STATE_ENGINES:-redb fjall rocksdb}
results=()
for engine in $engines; do
  target="target/$engine"
  rm -rf "$target"
  # Fetch first, so the build time counts compiling only.
  cargo fetch --quiet
  start=$SECONDS
  CARGO_TARGET_DIR="$target" cargo build --release --quiet --no-default-features --features "$engine"
  build=$((SECONDS - start))
  row=$("$target/release/kflow-state-engines-bench")
  results+=("$row $build |")
  echo "$row $build |" >&2
done
echo "| engine | updates/s | gets/s | scans/s | reopen + full scan (ms) | on disk (MiB) | clean build (s) |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
