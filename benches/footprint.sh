#!/usr/bin/env bash
# Idle footprint: a real heartbeat 3.0.6 pair and our pair, keepalive 1 s and
# 10 ms, side by side in network namespaces; RSS/PSS and CPU over a window,
# printed as a markdown table. Root only (namespaces). About 1 minute.
#   benches/footprint.sh [--secs 30] [--settle 5] [--only real|ours]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p heartbeat -p ha-tests --bins
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
export HA_BIN_DIR="${HA_BIN_DIR:-$bin}"
exec "$bin/footprint" "$@"
