#!/bin/sh
# Install what the user-mode-linux guest tests (tests/src/vm.rs, tests/tests/vm_*.rs)
# need on a fresh Debian (bookworm), as root. The guest runs the host's own
# userland, so everything a guest test uses is installed here, on the host.
#   user-mode-linux  the guest kernel (/usr/bin/linux.uml) + its modules (ip_vs, drbd, brd, ...)
#   kmod util-linux iproute2  modprobe, mount, ip netns/veth/bridge inside the guest
#   ipvsadm          the reference view of the kernel's IPVS table
#   drbd-utils       drbdadm/drbdsetup-84/drbdmeta (8.4 kernel module)
#   e2fsprogs        mkfs.ext4 for the Filesystem-on-DRBD test
#   nginx-light      real servers of the ldirectord test
#   heartbeat        Debian's stock drbddisk script, compared against ours
#   curl             HTTP client of the ldirectord guest test
set -e
PKGS="user-mode-linux kmod util-linux iproute2 ipvsadm drbd-utils e2fsprogs nginx-light heartbeat curl"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
