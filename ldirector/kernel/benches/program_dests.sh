#!/bin/bash
# program_dests.sh [--dests N] [--execs M]
#
# Builds the program_dests bench (release) and runs it inside a
# user-mode-linux guest (tests/vm/run.sh: this host has no IPVS), printing a
# markdown table: N destinations programmed by one KernelBackend batch vs
# `ipvsadm -R` vs one `ipvsadm -a` exec per destination (M timed, scaled).
# UML makes syscalls and especially fork/exec slow: read the ratios, not the
# absolute times. Needs root and user-mode-linux + ipvsadm (tests/vm/setup.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
BIN=$(cargo bench -p ld-ipvs-kernel --bench program_dests --no-run --message-format=json 2>/dev/null |
	sed -n 's/.*"executable":"\([^"]*program_dests[^"]*\)".*/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "program_dests.sh: bench did not build" >&2; exit 1; }
SHARE=$(mktemp -d /tmp/ldk-bench.XXXXXX)
trap 'rm -rf "$SHARE"' EXIT
[ $# -eq 0 ] && set -- --dests 10000 --execs 200
ARGS=$(printf ' %q' "$@")
LDV_TIMEOUT=${LDV_TIMEOUT:-900} tests/vm/run.sh "$SHARE" "$(printf '%q' "$BIN")$ARGS"
