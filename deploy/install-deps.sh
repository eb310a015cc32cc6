#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install the Debian 12 packages Loom needs to build, test and run its lab.
# Idempotent: installs only what is missing, and touches apt only then.
set -euo pipefail

packages=(
	# build
	gcc meson ninja-build pkg-config
	libjansson-dev # loomctl's JSON output (and the provisioner's REST API)
	liburcu-dev libzmq3-dev libmsgpack-dev libcap-dev libyaml-dev libsodium-dev libmnl-dev libbpf-dev
	libsqlite3-dev libmicrohttpd-dev # the provisioner's database and REST API
	libcurl4-openssl-dev # loomctl's API commands
	# unit tests, sanitizers, fuzzing (clang's libFuzzer runtime)
	libcriterion-dev clang libclang-rt-14-dev
	# packet fixtures and integration tests (Debian's python3, not a pyenv one)
	python3 python3-scapy python3-pytest python3-prometheus-client python3-zmq
	# the namespace lab
	iproute2 iputils-ping nftables nginx-light curl iperf3 procps
	runit # the portable supervised set-up (deploy/runit)
	conntrackd conntrack # the replication benchmark's peer (bench_repl_conntrackd.py)
	# the web UI's browser test: Debian's Chromium, driven by playwright-core
	# (npm, pinned in tests/integration/webui/package-lock.json) on Node.js
	chromium nodejs
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
