#!/bin/sh
# Guest side of tests/tests/vm_drbd.rs: two DRBD 8.4 "nodes" in one guest
# kernel, and heartbeat's drbddisk (ours and Debian's) driving them.
#
# A node is a mount + UTS namespace (held open by a `sleep`) with its own
# hostname and /etc/drbd.conf, so drbdadm picks its own `on <host>` section
# and mounts made by the Filesystem agent stay on that node. DRBD resources
# are kernel-global, so the pair is r0 (alpha, minor 0, /dev/ram0) connected
# over 127.0.0.1 to r1 (beta, minor 1, /dev/ram1): "the same" resource under
# two names, as two kernels would each call it r0.
#
# Every step leaves $OUT/<step>.rc .out .err .span (and snapshots .proc) for the Rust side.
# Env: OUT, OURS (our drbddisk), FS (our Filesystem), STOCK (Debian's
# drbddisk), PAYLOAD.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

fail() { echo "scenario: $*" >&2; exit 1; }
# builtins only: every fork/exec is expensive under user-mode-linux
now() { read -r NOW _ </proc/uptime; }
mark() { now; echo "$NOW $*" >>"$OUT/timeline"; }

# poll until "$@" succeeds, 20 s deadline
wait_until() {
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le 200 ] || return 1
		sleep 0.1
	done
}

# The kernel runs its usermode helper (drbdadm <event>) in the root
# namespaces, where neither node's drbd.conf is; its events (before-resync-*)
# would fail and drop the connection.
mark start
modprobe drbd usermode_helper=/bin/true || fail "modprobe drbd"
modprobe brd rd_nr=2 rd_size=16384 || fail "modprobe brd"

conf() { # node res minor port peer peer-minor peer-port
	cat <<EOC
global { usage-count no; }
resource $2 {
	net { protocol C; }
	disk { c-plan-ahead 0; resync-rate 100M; }
	on $1 { device /dev/drbd$3 minor $3; disk /dev/ram$3; address 127.0.0.1:$4; meta-disk internal; }
	on $5 { device /dev/drbd$6 minor $6; disk /dev/ram$6; address 127.0.0.1:$7; meta-disk internal; }
}
EOC
}
conf alpha r0 0 7788 beta 1 7789 >/etc/drbd.alpha.conf
conf beta r1 1 7789 alpha 0 7788 >/etc/drbd.beta.conf
: >/etc/drbd.conf

HOLDERS=""
node_up() {
	mkfifo "/run/$1.ready"
	unshare --mount --uts --propagation private sh -c \
		'mount --bind /etc/drbd.$0.conf /etc/drbd.conf && echo $0 >/proc/sys/kernel/hostname && echo up >/run/$0.ready && exec sleep 100000' "$1" &
	eval "PID_$1=$!"
	HOLDERS="$HOLDERS $!"
	read -r up <"/run/$1.ready"
	[ "$up" = up ] || fail "node $1 not up"
}
trap 'kill $HOLDERS 2>/dev/null' EXIT
on() { eval "p=\$PID_$1"; shift; nsenter -t "$p" -m -u -- "$@"; }

mark modules+conf
node_up alpha
node_up beta

# step <name> <node> <cmd...>: run and record (.span: guest uptime before, after)
step() {
	name=$1 node=$2
	shift 2
	now
	t0=$NOW
	on "$node" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
	echo $? >"$OUT/$name.rc"
	now
	echo "$t0 $NOW" >"$OUT/$name.span"
}
# the kernel's view of both minors, the ground truth for roles
snap() { cat /proc/drbd >"$OUT/$1.proc"; }

mark nodes
on alpha drbdadm -- --force create-md r0 >/dev/null 2>&1 || fail "create-md r0"
on beta drbdadm -- --force create-md r1 >/dev/null 2>&1 || fail "create-md r1"
mark create-md
on alpha drbdadm up r0 || fail "up r0"
on beta drbdadm up r1 || fail "up r1"
wait_until grep -q '0: cs:Connected' /proc/drbd || fail "r0 not connected: $(cat /proc/drbd)"
mark connected
# one initial full sync makes both sides UpToDate; then both back to Secondary
on alpha drbdadm -- --overwrite-data-of-peer primary r0 || fail "initial primary"
wait_until grep -q 'ds:UpToDate/UpToDate' /proc/drbd || fail "no initial sync: $(cat /proc/drbd)"
mark synced
on alpha drbdadm secondary r0 || fail "initial secondary"
wait_until sh -c '[ "$(grep -c "ro:Secondary/Secondary ds:UpToDate/UpToDate" /proc/drbd)" = 2 ]' ||
	fail "not Secondary/UpToDate on both: $(cat /proc/drbd)"

mark ready
# --- status while Secondary, ours and stock; usage and unknown resource
step ours_status_secondary alpha "$OURS" r0 status
step stock_status_secondary alpha "$STOCK" r0 status
step ours_status_all alpha "$OURS" status
step stock_status_all alpha "$STOCK" status
step ours_status_unknown alpha "$OURS" nores status
step stock_status_unknown alpha "$STOCK" nores status

# --- ours: start on alpha -> Primary
step ours_start_alpha alpha "$OURS" r0 start
snap after_start_alpha
step ours_status_primary alpha "$OURS" r0 status
step stock_status_primary alpha "$STOCK" r0 status
step ours_status_peer beta "$OURS" r1 status

# --- ours: start on beta while alpha is Primary: retries until alpha stops
now
t0=$NOW
on beta "$OURS" r1 start >"$OUT/ours_start_beta_retry.out" 2>"$OUT/ours_start_beta_retry.err" &
BG=$!
# alpha stops only after beta has been refused at least once
wait_until grep -q 'Multiple primaries' "$OUT/ours_start_beta_retry.err" || fail "beta was never refused"
step ours_stop_alpha alpha "$OURS" r0 stop
wait $BG
echo $? >"$OUT/ours_start_beta_retry.rc"
now
echo "$t0 $NOW" >"$OUT/ours_start_beta_retry.span"
snap after_retry_beta

# --- Filesystem on DRBD: write on beta, switch roles, read on alpha
mkfs.ext4 -q -F /dev/drbd1 || fail "mkfs on drbd1"
step fs_start_beta beta "$FS" /dev/drbd1 /mnt/data ext4 start
step fs_write_beta beta sh -c "echo '$PAYLOAD' >/mnt/data/payload && sync"
step fs_status_beta beta "$FS" /dev/drbd1 /mnt/data ext4 status
step fs_stop_beta beta "$FS" /dev/drbd1 /mnt/data ext4 stop
step ours_stop_beta beta "$OURS" r1 stop
step ours_start_alpha2 alpha "$OURS" r0 start
step fs_start_alpha alpha "$FS" /dev/drbd0 /mnt/data ext4 start
step fs_read_alpha alpha cat /mnt/data/payload
step fs_mounts_beta beta sh -c 'grep " /mnt/data " /proc/mounts || true'
step fs_stop_alpha alpha "$FS" /dev/drbd0 /mnt/data ext4 stop

# --- stock: the same retry while alpha (ours) is Primary
now
t0=$NOW
on beta "$STOCK" r1 start >"$OUT/stock_start_beta_retry.out" 2>"$OUT/stock_start_beta_retry.err" &
BG=$!
wait_until grep -q 'Multiple primaries' "$OUT/stock_start_beta_retry.err" || fail "stock: beta was never refused"
step ours_stop_alpha2 alpha "$OURS" r0 stop
wait $BG
echo $? >"$OUT/stock_start_beta_retry.rc"
now
echo "$t0 $NOW" >"$OUT/stock_start_beta_retry.span"
snap after_stock_retry_beta

# --- stop twice: already Secondary is success for both
step stock_stop_beta beta "$STOCK" r1 stop
step ours_stop_beta_again beta "$OURS" r1 stop
step stock_stop_beta_again beta "$STOCK" r1 stop
snap final

mark steps-done
on alpha drbdadm down r0
on beta drbdadm down r1
exit 0
