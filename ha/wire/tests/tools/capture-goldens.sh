#!/bin/bash
# Capture golden datagrams from the REAL heartbeat 3.0.6 for one auth method.
#
#   capture-goldens.sh <crc|md5|sha1> OUTDIR
#
# Drives the shared harness (never copied here) through a life cycle that makes
# every message type we know of appear on the wire: boot (status init/up/active,
# reqnodes/repnodes, starting, resource, ip-request-resp, NS_ackmsg), hb_standby
# (ask_resources), hb_takeover, a crash of node2 (stonith) and a graceful stop of
# node1 (shutdone). Leaves OUTDIR/capture.pcap; pcap-extract.py cuts it up.
# The pair is always torn down, even when a step fails.
set -u
METHOD=${1:?method}
OUT=${2:?outdir}
REF=${HB_REFERENCE:-/work/shared/reference/heartbeat}
PAIR=$REF/real-pair.sh
export HBP=${HBP:-hbw} RUN=${RUN:-/tmp/hbw}
VIP=192.0.2.50

log() { echo "[capture $(date +%T)] $*" >&2; }
cleanup() { "$PAIR" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

has_vip() { ip -n "${HBP}${1: -1}" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; }

# Poll (no fixed sleeps) until "$@" succeeds or the deadline passes.
wait_for() {
	local secs=$1 what=$2; shift 2
	local end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		"$@" && { log "$what"; return 0; }
		sleep 0.2
	done
	log "TIMEOUT waiting for: $what"
	return 1
}
node_gone() { ! "$PAIR" pid "$1" >/dev/null 2>&1 || ! "$PAIR" exec "$1" pgrep -x heartbeat >/dev/null 2>&1; }
log_has() { grep -q "$2" "$RUN/$1/log/ha-log" 2>/dev/null; }

mkdir -p "$OUT"
rm -rf "$RUN"
CAP=1 "$PAIR" up "$REF/configs/$METHOD" || exit 1
wait_for 60 "VIP on node1 (boot acquisition)" has_vip node1 || exit 1
"$PAIR" exec node1 /usr/share/heartbeat/hb_standby >/dev/null 2>&1
wait_for 30 "VIP moved to node2 (hb_standby)" has_vip node2 || exit 1
"$PAIR" exec node1 /usr/share/heartbeat/hb_takeover >/dev/null 2>&1
wait_for 30 "VIP back on node1 (hb_takeover)" has_vip node1 || exit 1
"$PAIR" crash node2
wait_for 30 "node1 declared node2 dead" log_has node1 "node node2: is dead" || exit 1
# heartbeat sends t=stonith right after it marks the link dead.
wait_for 10 "node1 marked node2's link dead" log_has node1 "Link node2:eth0 dead" || exit 1
"$PAIR" stop node1 >/dev/null 2>&1
wait_for 60 "node1 heartbeat stopped (shutdone)" node_gone node1 || true
"$PAIR" cap stop
cp "$RUN/capture.pcap" "$OUT/capture.pcap"
cp "$REF/configs/$METHOD/authkeys" "$OUT/authkeys"
cp "$RUN/node1/log/ha-log" "$OUT/node1.ha-log" 2>/dev/null
cp "$RUN/node2/log/ha-log" "$OUT/node2.ha-log" 2>/dev/null
log "done: $OUT"
