#!/usr/bin/env bash
# The userspace forwarder (ld-forwarder) against haproxy (mode tcp) on the
# loopback of a private network namespace: same nginx real servers
# (127.0.0.2:8080, 127.0.0.3:8080, round robin), same load tool (wrk).
#   conn/s     : wrk -H 'Connection: close' on a 43-byte page (a new TCP
#                connection per request, through the forwarder to nginx)
#   throughput : wrk with keep-alive on a 10 MiB file, 8 connections (bulk
#                streams) and 64 connections (many streams sharing 2 CPUs)
# "ours-copy" is ours with --no-splice (read/write). One run of each; prints a markdown table with our/haproxy ratios.
# Targets: >= 0.8x haproxy conn/s, >= 0.9x haproxy throughput.
# Root only (namespace). Needs nginx, haproxy and wrk (installed if missing).
#   benches/forwarder.sh [--secs 10] [--conns 64]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=10
conns=64
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) secs="$2"; shift 2 ;;
        --conns) conns="$2"; shift 2 ;;
        *) echo "usage: $0 [--secs N] [--conns N]" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "forwarder.sh: needs root (network namespace)" >&2
    exit 1
fi
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --release -q -p ld-forwarder --bin ld-forwarder
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/ld-forwarder"

ns="ldfbench$$"
dir="$(mktemp -d /tmp/ldfbench.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }

chmod 755 "$dir"
mkdir -p "$dir/www"
printf '<html><body>hello from nginx</body></html>\n' >"$dir/www/small.html"
head -c $((10 * 1024 * 1024)) /dev/zero >"$dir/www/big.bin"
cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_timeout 0;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    server {
        listen 127.0.0.2:8080 backlog=4096;
        listen 127.0.0.3:8080 backlog=4096;
        root $dir/www;
        location = /big.bin {
            keepalive_timeout 65s;
            keepalive_requests 1000000;
        }
    }
}
EOF
cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:8000
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.2:8080
    server s2 127.0.0.3:8080
EOF

# Enough fds for thousands of connections through a proxy.
ulimit -n "$(ulimit -Hn)"

# Not through the `inns` function: `$!` would be a subshell's pid, and
# killing it would leave nginx running.
ip netns exec "$ns" nginx -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/nginx.out" 2>&1 &
pids+=($!)
# `ip netns exec` execs the program: $! is the proxy's own pid.
declare -A proc
ip netns exec "$ns" haproxy -f "$dir/haproxy.cfg" -db >"$dir/haproxy.out" 2>&1 &
pids+=($!); proc[haproxy]=$!
ip netns exec "$ns" "$bin" --threads 2 tcp 127.0.0.1:8001 rr 127.0.0.2:8080 127.0.0.3:8080 >"$dir/ours.out" 2>&1 &
pids+=($!); proc[ours]=$!
ip netns exec "$ns" "$bin" --threads 2 --no-splice tcp 127.0.0.1:8002 rr 127.0.0.2:8080 127.0.0.3:8080 >"$dir/ours-copy.out" 2>&1 &
pids+=($!); proc[ours-copy]=$!

wait_port() {
    local url="$1" i
    for i in $(seq 100); do
        if inns curl -s -o /dev/null "$url" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "forwarder.sh: nothing answers at $url" >&2
    cat "$dir"/*.out >&2
    exit 1
}
wait_port http://127.0.0.2:8080/small.html
wait_port http://127.0.0.1:8000/small.html
wait_port http://127.0.0.1:8001/small.html
wait_port http://127.0.0.1:8002/small.html

# CPU ticks (user + system, all threads) of a process so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz="$(getconf CLK_TCK)"

# wrk output -> "requests/s MiB/s errors requests"
run_wrk() {
    local c="$1" out
    shift
    out="$(inns wrk -t2 -c"$c" -d"${secs}s" --timeout 30s "$@")"
    echo "$out" >>"$dir/wrk.log"
    awk '
        /Requests\/sec:/ { rps = $2 }
        /Transfer\/sec:/ {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v)
            m = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576
            mib = v * m
        }
        /Socket errors:/ { err = $4 + $6 + $8 + $10 }
        /Non-2xx/ { err += $5 }
        / requests in / { n = $1 }
        END { printf "%.0f %.1f %d %d\n", rps, mib, err + 0, n + 0 }
    ' <<<"$out"
}

declare -A cps tput tput64 cerr terr terr64 cpu
for t in direct haproxy ours ours-copy; do
    case "$t" in
        direct) url=http://127.0.0.2:8080 ;;
        haproxy) url=http://127.0.0.1:8000 ;;
        ours) url=http://127.0.0.1:8001 ;;
        ours-copy) url=http://127.0.0.1:8002 ;;
    esac
    c0=0; [ -n "${proc[$t]:-}" ] && c0="$(ticks "${proc[$t]}")"
    read -r r _ e n < <(run_wrk "$conns" -H 'Connection: close' "$url/small.html")
    cps[$t]=$r; cerr[$t]=$e; cpu[$t]=-
    if [ -n "${proc[$t]:-}" ] && [ "$n" -gt 0 ]; then
        cpu[$t]="$(awk -v d="$(($(ticks "${proc[$t]}") - c0))" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.0f", d * 1e6 / hz / n }')"
    fi
    read -r _ m e _ < <(run_wrk 8 "$url/big.bin")
    tput[$t]=$m; terr[$t]=$e
    read -r _ m e _ < <(run_wrk "$conns" "$url/big.bin")
    tput64[$t]=$m; terr64[$t]=$e
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "### Userspace forwarder vs haproxy (loopback, nginx reals, wrk -t2, ${secs}s each, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| target | conn/s (-c$conns, Connection: close) | errors | proxy CPU µs/conn | MiB/s (-c8, 10 MiB file) | errors | MiB/s (-c$conns) | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for t in direct haproxy ours ours-copy; do
    echo "| $t | ${cps[$t]} | ${cerr[$t]} | ${cpu[$t]} | ${tput[$t]} | ${terr[$t]} | ${tput64[$t]} | ${terr64[$t]} |"
done
echo "| **ours/haproxy** | **$(ratio "${cps[ours]}" "${cps[haproxy]}")** (target >= 0.8) | | $(ratio "${cpu[ours]}" "${cpu[haproxy]}") | **$(ratio "${tput[ours]}" "${tput[haproxy]}")** (target >= 0.9) | | $(ratio "${tput64[ours]}" "${tput64[haproxy]}") | |"
echo
echo "errors: wrk socket errors (timeout 30 s) plus non-2xx answers."
echo "proxy CPU µs/conn: user+system time of the proxy process during the conn/s run per request"
echo "(independent of how much CPU other load leaves it; lower is better)."
