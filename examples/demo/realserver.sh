#!/bin/sh
# Make this machine an LVS-DR real server for the demo's VIP, with the
# project's LVSRealServer resource agent (installed by scripts/install.sh in
# /etc/ha.d/resource.d/): the VIP goes on lo as /32, and ARP for it is neither
# answered (arp_ignore=1) nor announced (arp_announce=2) on lo, eth0 and all,
# so that only the director answers ARP for the VIP on the LAN.
#   realserver.sh start|stop|status
# The demo runs exactly this inside each real server's namespace.
exec /etc/ha.d/resource.d/LVSRealServer 192.0.2.50 eth0 "${1:-start}"
