#!/usr/bin/env bash
# Every benchmark of the project, one table: ours vs the real thing.
#   - heartbeat failover (benches/failover.sh, vs heartbeat 3.0.6) and idle
#     footprint (benches/footprint.sh);
#   - ldirectord check rounds: ours vs the real ldirectord 4.12 (Debian package,
#     installed here if missing) with the same config, 50/200/400 reals on
#     loopback, connect and http negotiate checks, checkinterval 1: round wall
#     time, CPU, RSS; the real one with a stand-in ipvsadm (`ldbench`, this host
#     has no IPVS); ours alone at 10,000 reals with `--ipvs none`;
#   - the userspace forwarder (benches/forwarder.sh) and the IPVS programming
#     bench (ldirector/kernel/benches/*.sh), when present;
#   - the demo's failover timeline (hademo --samples).
# Prints ONE markdown table and writes it as the "## Summary (benches/run.sh)"
# section of docs/benchmarks.md; plots go to docs/img/*.png (gnuplot).
# Root only (namespaces, mount namespaces, apt). About 25 minutes.
#   benches/run.sh [--runs 3] [--window 20] [--skip failover,footprint,ldirectord,ours10k,forwarder,kernel,demo]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=3 WINDOW=20 SKIP=""
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) RUNS=$2; shift 2 ;;
	--window) WINDOW=$2; shift 2 ;;
	--skip) SKIP=",$2,"; shift 2 ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "benches/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
skip() { [[ "$SKIP" == *",$1,"* ]]; }
step() { printf '\n==> %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	echo "benches/run.sh: needs root (network and mount namespaces, apt-get)" >&2
	exit 2
fi

# Debian packages: the real ldirectord (the reference) and gnuplot (plots).
# Installing must not start services: policy-rc.d 101 while apt runs.
need=()
command -v /usr/sbin/ldirectord >/dev/null || need+=(ldirectord)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
if [ ${#need[@]} -gt 0 ]; then
	step "apt-get install ${need[*]}"
	policy=/usr/sbin/policy-rc.d created=0
	if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created=1; fi
	export DEBIAN_FRONTEND=noninteractive
	rc=0
	apt-get update -qq </dev/null || rc=$?
	[ $rc = 0 ] && { apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null || rc=$?; }
	[ $created = 1 ] && rm -f "$policy"
	[ $rc = 0 ] || { echo "benches/run.sh: apt-get failed ($rc)" >&2; exit 1; }
fi

step "cargo build --release (heartbeat, ldirectord, agents, harness, hademo/ldbench)"
cargo build --release -q -p heartbeat -p ha-tests -p resource-agents -p hademo --bins
ours_ld=ok
cargo build --release -q -p ldirectord --bins || ours_ld="does not build"
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
export HA_BIN_DIR="${HA_BIN_DIR:-$bin}"
if [ "$ours_ld" = ok ] && ! "$bin/ldirectord" --version 2>&1 | grep -qi director; then
	ours_ld="not functional ($("$bin/ldirectord" --version 2>&1 | head -1))"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

OUT=$(mktemp -d /tmp/hbdbench.XXXXXX)
echo "raw outputs: $OUT" >&2
mkdir -p docs/img
args=()

if ! skip failover; then
	step "heartbeat failover (benches/failover.sh --runs $RUNS)"
	benches/failover.sh --runs "$RUNS" | tee "$OUT/failover.md" >&2 && args+=(--failover "$OUT/failover.md")
fi
if ! skip footprint; then
	step "heartbeat idle footprint (benches/footprint.sh)"
	benches/footprint.sh | tee "$OUT/footprint.md" >&2 && args+=(--footprint "$OUT/footprint.md")
fi

round() { # IMPL N CHECK [extra ldbench args]
	local dir="$OUT/ld-$1-$2-$3"
	step "ldirectord check rounds: $1, $2 reals, $3"
	"$bin/ldbench" round --impl "$1" --ours "$bin/ldirectord" --reals "$2" --check "$3" \
		--window "$WINDOW" --out "$dir" "${@:4}" >&2 || true
	[ -f "$dir/result.json" ] && results+=("$dir")
}
results=()
if ! skip ldirectord; then
	for n in 50 200 400; do
		for ct in connect negotiate; do
			round real "$n" "$ct"
			if [ "$ours_ld" = ok ]; then round ours "$n" "$ct"; fi
		done
	done
fi
if ! skip ours10k && [ "$ours_ld" = ok ]; then
	for ct in connect negotiate; do round ours 10000 "$ct" --startup-limit 120; done
fi
[ "$ours_ld" = ok ] || echo "our ldirectord $ours_ld: its rows say 'not run'" >&2

if ! skip forwarder && [ -x benches/forwarder.sh ]; then
	step "userspace forwarder (benches/forwarder.sh)"
	benches/forwarder.sh | tee "$OUT/forwarder.md" >&2 && args+=(--extra "forwarder=$OUT/forwarder.md")
fi
if ! skip kernel; then
	for s in ldirector/kernel/benches/*.sh; do
		[ -x "$s" ] || continue
		step "IPVS programming ($s)"
		"$s" | tee "$OUT/kernel.md" >&2 && args+=(--extra "kernel=$OUT/kernel.md")
	done
fi

if ! skip demo; then
	step "demo failover timeline (hademo --non-interactive --samples)"
	if "$bin/hademo" --non-interactive --bin-dir "$bin" --samples "$OUT/demo" >"$OUT/demo.out" 2>&1; then
		gnuplot -e "data='$OUT/demo'; out='docs/img/failover-timeline.png'" benches/plots/failover-timeline.gp
	else
		echo "hademo failed (see $OUT/demo.out); no timeline plot" >&2
	fi
fi

step "summary"
note="Measured $(date -u '+%F %H:%M UTC') on $(nproc) CPUs, $(uname -sr), by \`benches/run.sh --runs $RUNS --window $WINDOW\`.
ldirectord rows: one virtual service 127.0.0.200:80, \`real=127.0.1.1->…:8080 masq\`, fork=no, checkinterval=1,
checktimeout=negotiatetimeout=3, quiescent=yes; negotiate = \`service=http request=\"index.html\" receive=\"ldirectord-ok\"\`;
real servers: an in-bench farm (one tokio listener per address). Round = first→last check of a round as seen by the
servers (only rounds with a quiet gap between them count; \"none apart\" = rounds run into each other); check interval =
time between two consecutive checks of the same real as seen by the servers, over all reals (median / p99 / max; should
stay near checkinterval at any size); start = until every real has weight > 0 in the table (ours: its control socket's
listing; real: the stand-in ipvsadm's state); CPU = utime+stime over a ${WINDOW} s steady-state window; the real ldirectord 4.12 runs with a stand-in
ipvsadm (\`ldbench\`, a Rust binary: start-up ipvsadm cost is lower than with the C ipvsadm on a real kernel); ours runs
with \`--ipvs none\` (in-memory table). Plots: docs/img/check-rounds.png, docs/img/failover-timeline.png."
"$bin/ldbench" table "${args[@]}" --plot-data "$OUT/rounds.dat" --doc docs/benchmarks.md --note "$note" "${results[@]}"
if [ ${#results[@]} -gt 0 ]; then
	gnuplot -e "data='$OUT/rounds.dat'; out='docs/img/check-rounds.png'" benches/plots/check-rounds.gp
fi
