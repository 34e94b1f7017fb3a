#!/usr/bin/env bash
# Failover: our pair vs a real heartbeat 3.0.6 pair on this machine, in one
# run (heartbeat-3.0.6.md §5 method): kill → dead → VIP → ping, and failback,
# at keepalive 200ms/deadtime 1 and keepalive 1/deadtime 3. Prints a markdown
# section and writes it to docs/benchmarks.md ("## Failover", replaced if
# present). Root only (namespaces). About 10–15 minutes at the default 5 runs.
#   benches/failover.sh [--runs 5] [--config fast|slow] [--only ours|real] [--rust-ipaddr2]
# --rust-ipaddr2 adds our daemon with the Rust IPaddr2 agent as a third column.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p heartbeat -p ha-tests -p resource-agents --bins
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
export HA_BIN_DIR="${HA_BIN_DIR:-$bin}"
exec "$bin/failover_bench" --doc docs/benchmarks.md "$@"
