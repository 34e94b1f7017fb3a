#!/bin/sh
# PID 1 of a ha-tests user-mode-linux guest.
#
# The guest's root is the HOST's / through hostfs, read-only: the guest runs the
# host's own userland (dash, iproute2, ipvsadm, drbd-utils, nginx, our binaries
# under the target dir) on its own kernel, so there is no image to build or keep
# in sync. Writable state lives in the guest only: tmpfs on /run /root /mnt
# /var/tmp /var/log, overlays (lower = host, upper in the guest's RAM) on /etc
# /var /tmp. The control dir and the shared dir are mounted read-write with
# hostfs (at their host paths).
#
# The harness passes `ldv_ctl=<control dir>` on the kernel command line (the
# kernel hands unknown `k=v` parameters to init as environment). The control
# dir holds `env` (settings, sourced), `cmd.sh`, and receives `stdout`,
# `stderr`, `rc` and `init.log`.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8

halt_now() {
	sync
	# systemctl/busybox poweroff -f both end in reboot(2); sysrq is the fallback
	# that does not need any binary. PID 1 must never exit (kernel panic).
	poweroff -f 2>/dev/null
	echo o >/proc/sysrq-trigger 2>/dev/null
	while :; do sleep 1; done
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs -o mode=755 run /run
mkdir -p /run/ldv/ctl /run/lock
mount -t hostfs -o "$ldv_ctl" none /run/ldv/ctl || halt_now
CTL=/run/ldv/ctl
exec 2>>$CTL/init.log
. $CTL/env

# Modules come from the user-mode-linux package, which keeps them outside
# /lib/modules; the host has no /lib/modules to mount over, so point kmod at
# a base dir (for users through MODPROBE_OPTIONS, for the kernel's own
# request_module through a wrapper).
KVER=$(uname -r)
mkdir -p /run/ldv/mods/lib/modules /run/ldv/bin
ln -s "$LDV_MODDIR" "/run/ldv/mods/lib/modules/$KVER"
export MODPROBE_OPTIONS="-d /run/ldv/mods"
printf '#!/bin/sh\nMODPROBE_OPTIONS="-d /run/ldv/mods" exec /sbin/modprobe "$@"\n' >/run/ldv/bin/modprobe
chmod +x /run/ldv/bin/modprobe
echo /run/ldv/bin/modprobe >/proc/sys/kernel/modprobe
for m in overlay $LDV_MODULES; do
	modprobe "$m" || echo "ldv: modprobe $m failed" >&2
done

mount -t tmpfs -o mode=700 root /root
# mount points for the guest's own filesystems (the host's are read-only)
mount -t tmpfs mnt /mnt
# /tmp too: host-built binaries and scratch dirs under the host's /tmp stay visible
for d in etc var tmp; do
	mkdir -p /run/ldv/$d.up /run/ldv/$d.work
	# the overlay's root takes the upper dir's mode (/tmp: 1777)
	chmod "$(stat -c %a /$d)" /run/ldv/$d.up
	mount -t overlay -o "lowerdir=/$d,upperdir=/run/ldv/$d.up,workdir=/run/ldv/$d.work" ov /$d ||
		echo "ldv: overlay on /$d failed" >&2
done
# the host's /var/tmp, logs and daemon state are not the guest's business
mount -t tmpfs -o mode=1777 vartmp /var/tmp
mount -t tmpfs log /var/log

if [ -n "$LDV_SHARE" ]; then
	mkdir -p "$LDV_SHARE" 2>/dev/null
	mount -t hostfs -o "$LDV_SHARE" none "$LDV_SHARE" || echo "ldv: cannot mount $LDV_SHARE" >&2
fi
ip link set lo up
echo "$LDV_HOSTNAME" >/proc/sys/kernel/hostname

cut -d' ' -f1 /proc/uptime >$CTL/uptime.start
cd "${LDV_SHARE:-/root}" || cd /
export LDV_GUEST=1
/bin/sh $CTL/cmd.sh </dev/null >$CTL/stdout 2>$CTL/stderr
rc=$?
cut -d' ' -f1 /proc/uptime >$CTL/uptime.end
echo $rc >$CTL/rc.tmp && mv $CTL/rc.tmp $CTL/rc
cd /
halt_now
