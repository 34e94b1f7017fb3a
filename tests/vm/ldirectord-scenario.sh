#!/bin/sh
# Guest side of tests/tests/vm_ldirectord.rs: an ldirectord (ours, or
# Debian's for comparison) driving the guest kernel's IPVS, with real nginx
# servers in network namespaces and a client namespace fetching through the
# virtual IPs.
#
#   client ldv-client 10.77.0.2 ─┐ br0 10.77.0.1 (director = guest root ns)
#   DR  reals ldv-rs3/rs4 .13/.14 ┘   VIP-DR 10.77.0.200 (also on the reals' lo)
#                                     VIP-NAT 10.77.0.100
#   NAT reals ldv-rs1/rs2 10.77.1.11/.12 ─┐ br1 10.77.1.1 (their default gw)
#   NAT fallback ldv-sorry 10.77.1.99 ───┘
#
# Steps (see STEPS in the Rust test): after each, wait until the kernel table
# (ipvsadm -Ln, normalized) equals $EXP/<step>.table (deadline), probe HTTP,
# and record $OUT/<step>.table (read after the probe) and $OUT/<step>.http.
# Env: OUT EXP CF (config path the daemon uses) CF2 (edited config for the
# reload) LDIRECTORD LD_OPTS (extra options before the config) STEP_DEADLINE.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C

fail() { echo "scenario: $*" >&2; exit 1; }
now() { read -r NOW _ </proc/uptime; }
mark() { now; echo "$NOW $*" >>"$OUT/timeline"; }

mark start
for m in ip_vs ip_vs_rr ip_vs_wrr veth bridge; do modprobe $m || fail "modprobe $m"; done
echo 1 >/proc/sys/net/ipv4/ip_forward

# one `ip -batch` per namespace: every exec costs under user-mode-linux
HOSTS="client:br0:10.77.0.2:10.77.0.1 rs1:br1:10.77.1.11:10.77.1.1 rs2:br1:10.77.1.12:10.77.1.1
	rs3:br0:10.77.0.13:10.77.0.1 rs4:br0:10.77.0.14:10.77.0.1 sorry:br1:10.77.1.99:10.77.1.1"
{
	for b in br0:10.77.0.1 br1:10.77.1.1; do
		echo "link add ${b%%:*} type bridge"
		echo "addr add ${b#*:}/24 dev ${b%%:*}"
		echo "link set ${b%%:*} up"
	done
	echo "addr add 10.77.0.100/32 dev br0"
	echo "addr add 10.77.0.200/32 dev br0"
	for h in $HOSTS; do
		IFS=: read -r n br _ _ <<EOH
$h
EOH
		echo "netns add ldv-$n"
		echo "link add v-$n type veth peer name eth0 netns ldv-$n"
		echo "link set v-$n master $br up"
	done
} | ip -batch - || fail "topology (director side)"
for h in $HOSTS; do
	IFS=: read -r n _ addr gw <<EOH
$h
EOH
	{
		echo "addr add $addr/24 dev eth0"
		echo "link set eth0 up"
		echo "link set lo up"
		echo "route add default via $gw"
		# LVS-DR: the VIP is local on each real but never answered for in ARP
		case $n in rs3 | rs4) echo "addr add 10.77.0.200/32 dev lo" ;; esac
	} | ip -n "ldv-$n" -batch - || fail "topology in $n"
done
for rs in rs3 rs4; do
	ip netns exec "ldv-$rs" sh -c 'echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore && echo 2 >/proc/sys/net/ipv4/conf/all/arp_announce'
done
mark topology

# nginx answering its own name on port 80 (all paths: the check asks /index.html)
web_up() { # name
	d=/tmp/ldv-web-$1
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<EOC
daemon on;
master_process off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
	server {
		listen 80;
		location / { default_type text/plain; return 200 "$1"; }
	}
}
EOC
	ip netns exec "ldv-$1" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" ||
		fail "nginx $1: $(cat "$d/error.log")"
}
web_down() {
	p=$(cat "/tmp/ldv-web-$1/nginx.pid") || fail "no pid for $1"
	kill "$p"
	i=0
	while kill -0 "$p" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "nginx $1 does not stop"
		sleep 0.1
	done
}
for w in rs1 rs2 rs3 rs4 sorry; do web_up $w; done
trap 'for w in rs1 rs2 rs3 rs4 sorry; do [ -f /tmp/ldv-web-$w/nginx.pid ] && kill $(cat /tmp/ldv-web-$w/nginx.pid) 2>/dev/null; done' EXIT
mark servers

table() {
	ipvsadm -Ln | awk '
		/^(TCP|UDP|FWM)/ { svc = $1 " " $2 " " $3; print svc; next }
		/->/ && $2 != "RemoteAddress:Port" { print svc " -> " $2 " " $3 " " $4 }' | sort
}

# four fresh connections (Connection: close) to each VIP: "<body> <code>" lines
probe() {
	for vip in 10.77.0.100 10.77.0.200; do
		ip netns exec ldv-client curl -s -m 2 -H 'Connection: close' -w " %{http_code}\n" \
			"http://$vip/" "http://$vip/" "http://$vip/" "http://$vip/" | sed "s/^/$vip /"
	done
}

ld() { # command -> $OUT/ld_<command>_<n>.{rc,out,err}
	n=$1
	shift
	# shellcheck disable=SC2086
	$LDIRECTORD $LD_OPTS "$CF" "$@" >"$OUT/ld_$n.out" 2>"$OUT/ld_$n.err"
	echo $? >"$OUT/ld_$n.rc"
}

# step <name>: wait for the expected table (STEP_DEADLINE s of guest uptime), probe, record
step() {
	now
	t0=$NOW
	until table >"$OUT/$1.polled" && cmp -s "$OUT/$1.polled" "$EXP/$1.table"; do
		now
		[ "${NOW%.*}" -lt $((${t0%.*} + ${STEP_DEADLINE:-30})) ] || break
		sleep 0.2
	done
	now
	echo "$t0 $NOW" >"$OUT/$1.span"
	probe >"$OUT/$1.http" 2>&1
	table >"$OUT/$1.table"
	mark "step $1"
	cmp -s "$OUT/$1.table" "$EXP/$1.table" || fail "step $1: table differs"
}

ld status_before status
ld start start
step start
ld status_running status

web_down rs1
web_down rs3
step down

web_up rs1
web_up rs3
step back

web_down rs1
web_down rs2
step alldown

web_up rs2
step oneback

cp "$CF2" "$CF"
ld reload reload
step reload

web_down rs2
step deleted

web_up rs1
web_up rs2
step allback

ld stop stop
step stop
i=0
while ld status_after status && [ "$(cat "$OUT/ld_status_after.rc")" = 0 ]; do
	i=$((i + 1))
	[ $i -le 50 ] || break
	sleep 0.2
done
mark done
exit 0
