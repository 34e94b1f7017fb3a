#!/bin/sh
# Install the Rust heartbeat with the Debian package layout
# (heartbeat 3.0.6, drbd-utils, ldirectord):
#
#   /usr/libexec/heartbeat/heartbeat        daemon
#   /usr/bin/cl_status                      query tool
#   /usr/share/heartbeat/{hb_standby,hb_takeover}   (Debian has no /usr/bin links)
#   /etc/init.d/heartbeat, /lib/systemd/system/heartbeat.service,
#   /usr/lib/tmpfiles.d/heartbeat.conf
#   /etc/ha.d/resource.d/<agent>            IPaddr IPaddr2 LVSRealServer Filesystem drbddisk
#                                           (whichever were built)
#   /usr/sbin/ldirectord + /etc/ha.d/resource.d/ldirectord -> /usr/sbin/ldirectord
#   /var/lib/heartbeat, /etc/ha.d skeleton (no ha.cf/authkeys/haresources)
#
# Usage: scripts/install.sh [DESTDIR]      (binaries from $BIN_DIR, default
#        $CARGO_TARGET_DIR/release or target/release; build them first with
#        `cargo build --release --workspace`).
# Existing configuration files are never overwritten.
set -eu

DESTDIR=${1:-}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BIN_DIR:-}" ]; then
	BIN_DIR=${CARGO_TARGET_DIR:-$here/target}/release
fi

die() { echo "install.sh: $*" >&2; exit 1; }
[ -x "$BIN_DIR/heartbeat" ] || die "$BIN_DIR/heartbeat not built (cargo build --release -p heartbeat)"
[ -x "$BIN_DIR/cl_status" ] || die "$BIN_DIR/cl_status not built"

d() { install -d -m "$1" "$DESTDIR$2"; }
f() { install -m "$1" "$2" "$DESTDIR$3"; }

d 755 /usr/libexec/heartbeat
d 755 /usr/bin
d 755 /usr/sbin
d 755 /usr/share/heartbeat
d 755 /etc/init.d
d 755 /lib/systemd/system
d 755 /usr/lib/tmpfiles.d
d 755 /etc/ha.d
d 755 /etc/ha.d/resource.d
d 755 /etc/ha.d/rc.d
d 755 /var/lib/heartbeat

f 755 "$BIN_DIR/heartbeat" /usr/libexec/heartbeat/heartbeat
f 755 "$BIN_DIR/cl_status" /usr/bin/cl_status
for t in hb_standby hb_takeover; do
	[ -x "$BIN_DIR/$t" ] || die "$BIN_DIR/$t not built"
	f 755 "$BIN_DIR/$t" /usr/share/heartbeat/$t
done
f 755 "$here/packaging/init.d/heartbeat" /etc/init.d/heartbeat
f 644 "$here/packaging/systemd/heartbeat.service" /lib/systemd/system/heartbeat.service
f 644 "$here/packaging/tmpfiles.d/heartbeat.conf" /usr/lib/tmpfiles.d/heartbeat.conf

for a in IPaddr IPaddr2 LVSRealServer Filesystem drbddisk; do
	if [ -x "$BIN_DIR/$a" ]; then
		f 755 "$BIN_DIR/$a" /etc/ha.d/resource.d/$a
	fi
done
if [ -x "$BIN_DIR/ldirectord" ]; then
	f 755 "$BIN_DIR/ldirectord" /usr/sbin/ldirectord
	ln -sfn /usr/sbin/ldirectord "$DESTDIR/etc/ha.d/resource.d/ldirectord"
fi
# As in Debian: /etc/heartbeat is the same directory.
[ -e "$DESTDIR/etc/heartbeat" ] || ln -s ha.d "$DESTDIR/etc/heartbeat"
echo "installed into ${DESTDIR:-/}"
