#!/bin/bash
# run.sh <shared-dir> <command...>
#
# Runs <command> (through /bin/sh, as root) in a user-mode-linux guest whose
# userland is this host's own (read-only, writes stay in the guest), with
# <shared-dir> mounted read-write at the same path; prints the command's
# stdout/stderr and exits with its exit code (124: timeout, 125: the guest
# died without a result). The Rust harness (tests/src/vm.rs) does the same.
#
# Env: LDV_TIMEOUT (s, default 120), LDV_MEM (MiB, default 512),
#      LDV_MODULES ("ip_vs drbd ..." loaded before the command),
#      LDV_CONSOLE=1 (guest kernel console on stderr), LDV_UML (kernel binary).
# Needs: apt-get install user-mode-linux (see setup.sh).
set -euo pipefail
if [ $# -lt 2 ]; then sed -n '2,14p' "$0" >&2; exit 2; fi
HERE=$(dirname "$(readlink -f "$0")")
UML=${LDV_UML:-/usr/bin/linux.uml}
KVER_DIR=$(ls -d /usr/lib/uml/modules/* 2>/dev/null | head -1)
[ -x "$UML" ] && [ -n "$KVER_DIR" ] || { echo "run.sh: user-mode-linux missing (tests/vm/setup.sh)" >&2; exit 2; }
SHARE=$(readlink -f "$1"); shift
[ -d "$SHARE" ] || { echo "run.sh: not a directory: $SHARE" >&2; exit 2; }

CTL=$(mktemp -d /tmp/ldvrun.XXXXXX)
VPID=
cleanup() {
	# the guest's host processes share one process group (setsid below)
	if [ -n "$VPID" ]; then kill -KILL -- "-$VPID" 2>/dev/null || true; wait "$VPID" 2>/dev/null || true; fi
	rm -rf "$CTL"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$HERE/guest-init.sh" "$CTL/init"
chmod 755 "$CTL/init"
{
	printf 'LDV_SHARE=%q\n' "$SHARE"
	printf 'LDV_MODDIR=%q\n' "$KVER_DIR"
	printf 'LDV_MODULES=%q\n' "${LDV_MODULES:-}"
	printf 'LDV_HOSTNAME=%q\n' "${LDV_HOSTNAME:-ldv}"
} >"$CTL/env"
printf '%s\n' "$*" >"$CTL/cmd.sh"
if [ "${LDV_CONSOLE:-0}" = 1 ]; then CON="con0=null,fd:2 con=null"; OUT=/dev/stderr; else CON="con=null"; OUT=/dev/null; fi
# TMPDIR: UML backs guest RAM with a file there
TMPDIR=/dev/shm setsid "$UML" mem="${LDV_MEM:-512}M" root=/dev/root rootfstype=hostfs rootflags=/ ro \
	init="$CTL/init" ldv_ctl="$CTL" uml_dir="$CTL" $CON ssl=null quiet panic=-1 \
	</dev/null >"$OUT" 2>&1 &
VPID=$!
DEADLINE=$(($(date +%s) + ${LDV_TIMEOUT:-120}))
while kill -0 "$VPID" 2>/dev/null && [ ! -f "$CTL/rc" ]; do
	if [ "$(date +%s)" -ge "$DEADLINE" ]; then break; fi
	sleep 0.05
done
# rc is written just before poweroff: give the guest a moment to halt itself
for _ in $(seq 40); do kill -0 "$VPID" 2>/dev/null || break; sleep 0.05; done
kill -KILL -- "-$VPID" 2>/dev/null || true
wait "$VPID" 2>/dev/null || true
VPID=
cat "$CTL/stdout" 2>/dev/null || true
cat "$CTL/stderr" >&2 2>/dev/null || true
[ -s "$CTL/init.log" ] && sed 's/^/guest-init: /' "$CTL/init.log" >&2
if [ -f "$CTL/rc" ]; then exit "$(cat "$CTL/rc")"; fi
if [ "$(date +%s)" -ge "$DEADLINE" ]; then echo "run.sh: timeout after ${LDV_TIMEOUT:-120}s" >&2; exit 124; fi
echo "run.sh: guest ended without a result" >&2
exit 125
