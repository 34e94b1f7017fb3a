#!/usr/bin/env bash
# The project's full check, as CI runs it (.ci/run execs this):
#   system packages (Debian) and rustfmt/clippy if missing, then
#   cargo fmt --check, clippy -D warnings, release build, the workspace's
#   unit / simulator / golden tests, and last the end-to-end interop tests
#   against the real Debian heartbeat 3.0.6 in network namespaces.
# Needs root for the packages and the namespaces. The e2e tests run with
# HA_E2E_REQUIRED=1 here, so a missing prerequisite fails instead of skipping.
#
# Environment: HA_E2E_THREADS (parallel e2e scenarios, default 16),
# SKIP_APT=1 (never touch packages).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# heartbeat: the interop peer and its stock scripts; nginx-light, exim4 and
# postgresql: real servers for ldirectord's checks; user-mode-linux, kmod,
# ipvsadm, drbd-utils, curl: the real-kernel (IPVS, DRBD) guest tests;
# systemd: systemd-analyze verify of our unit.
PKGS=(heartbeat tcpdump iptables iproute2 iputils-ping e2fsprogs nginx-light util-linux procps psmisc
	exim4-daemon-light postgresql-15 perl user-mode-linux kmod ipvsadm drbd-utils curl systemd)

install_packages() {
	local missing=() p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "${SKIP_APT:-0}" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "missing packages: ${missing[*]} (not installing: not root, no apt-get, or SKIP_APT=1)"
		return 0
	fi
	step "apt-get install ${missing[*]}"
	# Installing must not start heartbeat/nginx on the host: policy-rc.d 101
	# forbids service starts. Remove it again only if we created it.
	local policy=/usr/sbin/policy-rc.d created=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created=1
	fi
	local rc=0
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null || rc=$?
	[ $rc = 0 ] && { apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null || rc=$?; }
	[ $created = 1 ] && rm -f "$policy"
	return $rc
}

rust_components() {
	command -v rustup >/dev/null || return 0
	local c
	for c in rustfmt clippy; do
		rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
	done
}

install_packages
rust_components

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --release --workspace"
cargo build --release --workspace

# Root-only tests outside ha-tests (resource agents in namespaces and on loop
# devices, the daemon smoke test, the demo) must run here, never skip.
step "cargo test --workspace (unit, simulator, golden, agents, daemon smoke, demo)"
HA_E2E_REQUIRED=1 cargo test --workspace --exclude ha-tests

# Our daemon for the e2e tests: the release build above.
export HA_BIN_DIR="${HA_BIN_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/release}"
step "end-to-end tests vs real heartbeat (HA_E2E_REQUIRED=1, our binaries from $HA_BIN_DIR)"
HA_E2E_REQUIRED=1 cargo test -p ha-tests -- --test-threads="${HA_E2E_THREADS:-16}"
