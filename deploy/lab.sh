#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Loom namespace lab: a client, a router where loom-fwd-agent will run,
# and three nginx servers, all on this machine in network namespaces.
#
#   deploy/lab.sh up       install what is missing, build, create the lab, check it
#   deploy/lab.sh status   show the namespaces, addresses and what runs in them
#   deploy/lab.sh down     remove everything the lab created
#
#   loom-cli  10.1.0.2/24  fd00:1::2/64
#      | veth
#   loom-rtr  10.1.0.1/24  fd00:1::1/64   (router; the forwarding agent's place)
#             10.2.0.1/24  fd00:2::1/64   bridge lbr0 to the servers
#      | veth x3
#   loom-srv1..3  10.2.0.11..13/24  fd00:2::11..13/64   nginx on port 80
#
# The router runs loom-fwd-agent (AF_PACKET on rtr0 and lbr0, the kernel's
# forwarding off) and loom-svc-mgr with the demo services: virtual addresses
# 10.9.0.1:80 and [fd00:9::1]:80 balanced over the three nginx servers
# (weighted round robin 3:2:1, HTTP health checks). Each daemon's issue adds
# its start-up here.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=/run/loom-lab
NS_CLI=loom-cli
NS_RTR=loom-rtr
SERVERS=(1 2 3)

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "lab.sh: run as root (it creates network namespaces)" >&2
		exit 1
	fi
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

stop_pid() {
	local file=$1 pid
	[ -f "$file" ] || return 0
	pid=$(cat "$file")
	kill "$pid" 2>/dev/null || true
	# daemons stop on SIGTERM; wait for them before their interfaces go
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

down() {
	stop_pid "$RUN/fwd-agent.pid"
	stop_pid "$RUN/svc-mgr.pid"
	for s in "${SERVERS[@]}"; do
		if [ -f "$RUN/srv$s/nginx.pid" ]; then
			kill "$(cat "$RUN/srv$s/nginx.pid")" 2>/dev/null || true
		fi
		ip netns del "loom-srv$s" 2>/dev/null || true
	done
	ip netns del "$NS_RTR" 2>/dev/null || true
	ip netns del "$NS_CLI" 2>/dev/null || true
	rm -f /dev/shm/loom.lab.* /dev/shm/loom.lab-mgr.*
	rm -rf "$RUN"
}

nginx_conf() {
	local s=$1 dir=$RUN/srv$1
	mkdir -p "$dir/www"
	echo "loom lab server $s" >"$dir/www/index.html"
	cat >"$dir/nginx.conf" <<EOF
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log;
worker_processes 1;
events { worker_connections 256; }
http {
	access_log $dir/access.log;
	client_body_temp_path $dir/tmp;
	proxy_temp_path $dir/tmp;
	fastcgi_temp_path $dir/tmp;
	uwsgi_temp_path $dir/tmp;
	scgi_temp_path $dir/tmp;
	server {
		listen 80;
		listen [::]:80;
		root $dir/www;
	}
}
EOF
	mkdir -p "$dir/tmp"
}

up() {
	./deploy/install-deps.sh
	if [ ! -f build/build.ninja ]; then
		meson setup build --buildtype=debugoptimized >/dev/null
	fi
	ninja -C build >/dev/null
	down
	mkdir -p "$RUN"

	ip netns add "$NS_CLI"
	ip netns add "$NS_RTR"
	ip link add cli0 netns "$NS_CLI" type veth peer name rtr0 netns "$NS_RTR"
	in_ns "$NS_CLI" ip addr add 10.1.0.2/24 dev cli0
	in_ns "$NS_CLI" ip -6 addr add fd00:1::2/64 dev cli0 nodad
	in_ns "$NS_CLI" ip link set lo up
	in_ns "$NS_CLI" ip link set cli0 up
	in_ns "$NS_CLI" ip route add default via 10.1.0.1
	in_ns "$NS_CLI" ip -6 route add default via fd00:1::1

	in_ns "$NS_RTR" ip link set lo up
	in_ns "$NS_RTR" ip addr add 10.1.0.1/24 dev rtr0
	in_ns "$NS_RTR" ip -6 addr add fd00:1::1/64 dev rtr0 nodad
	in_ns "$NS_RTR" ip link set rtr0 up
	in_ns "$NS_RTR" ip link add lbr0 type bridge
	in_ns "$NS_RTR" ip addr add 10.2.0.1/24 dev lbr0
	in_ns "$NS_RTR" ip -6 addr add fd00:2::1/64 dev lbr0 nodad
	in_ns "$NS_RTR" ip link set lbr0 up

	for s in "${SERVERS[@]}"; do
		local ns=loom-srv$s
		ip netns add "$ns"
		ip link add eth0 netns "$ns" type veth peer name "srv$s" netns "$NS_RTR"
		in_ns "$NS_RTR" ip link set "srv$s" master lbr0 up
		in_ns "$ns" ip link set lo up
		in_ns "$ns" ip addr add "10.2.0.1$s/24" dev eth0
		in_ns "$ns" ip -6 addr add "fd00:2::1$s/64" dev eth0 nodad
		in_ns "$ns" ip link set eth0 up
		in_ns "$ns" ip route add default via 10.2.0.1
		in_ns "$ns" ip -6 route add default via fd00:2::1
		nginx_conf "$s"
		in_ns "$ns" nginx -c "$RUN/srv$s/nginx.conf"
	done

	# loom-fwd-agent routes; the router's kernel does not
	in_ns "$NS_RTR" sysctl -qw net.ipv4.ip_forward=0
	in_ns "$NS_RTR" sysctl -qw net.ipv6.conf.all.forwarding=0
	cat >"$RUN/svc-mgr.yaml" <<EOF
instance: lab-mgr
host-name: loom-rtr
address: 10.2.0.1
listen: [ "ipc://$RUN/mgr.sock" ]
services:
  - name: web
    address: 10.9.0.1
    port: 80
    algorithm: wrr
    clients: [ 10.1.0.0/24 ]
    health: { type: http, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
    backends:
      - { address: 10.2.0.11, weight: 3 }
      - { address: 10.2.0.12, weight: 2 }
      - { address: 10.2.0.13, weight: 1 }
  - name: web6
    address: fd00:9::1
    port: 80
    algorithm: wrr
    clients: [ fd00:1::/64 ]
    health: { type: http, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
    backends:
      - { address: "fd00:2::11", weight: 3 }
      - { address: "fd00:2::12", weight: 2 }
      - { address: "fd00:2::13", weight: 1 }
EOF
	ip netns exec "$NS_RTR" ./build/svc-mgr/loom-svc-mgr -c "$RUN/svc-mgr.yaml" \
		>"$RUN/svc-mgr.log" 2>&1 &
	echo $! >"$RUN/svc-mgr.pid"
	printf '%s\n' "instance: lab" "host-name: loom-rtr" "backend: afpacket" \
		"interfaces:" "  - name: rtr0" "  - name: lbr0" "managers:" \
		"  - endpoint: ipc://$RUN/mgr.sock" >"$RUN/fwd-agent.yaml"
	# not through in_ns: a function in the background is a subshell, and $!
	# must be the agent itself (ip netns exec execs it) for `down` to stop it
	ip netns exec "$NS_RTR" ./build/fwd-agent/loom-fwd-agent -c "$RUN/fwd-agent.yaml" \
		>"$RUN/fwd-agent.log" 2>&1 &
	echo $! >"$RUN/fwd-agent.pid"
	sleep 0.5
	for d in fwd-agent svc-mgr; do
		if ! kill -0 "$(cat "$RUN/$d.pid")" 2>/dev/null; then
			echo "lab.sh: loom-$d did not start:" >&2
			cat "$RUN/$d.log" >&2
			exit 1
		fi
	done

	local ok=0
	for s in "${SERVERS[@]}"; do
		local body
		# the first packet to a server waits for the agent to learn its MAC
		body=$(in_ns "$NS_CLI" curl -s --retry 3 --retry-delay 1 --retry-all-errors \
			--max-time 3 "http://10.2.0.1$s/") || true
		if [ "$body" = "loom lab server $s" ]; then
			ok=$((ok + 1))
		fi
	done
	local vip=0
	for _ in 1 2 3 4 5 6; do
		if in_ns "$NS_CLI" curl -s --max-time 3 http://10.9.0.1/ | grep -q "loom lab server"; then
			vip=$((vip + 1))
		fi
	done
	echo "lab is up: client $NS_CLI, router $NS_RTR, servers loom-srv1..3 (nginx on :80)"
	echo "  client -> servers through loom-fwd-agent: $ok of ${#SERVERS[@]} answered"
	echo "  client -> virtual service 10.9.0.1:80 (loom-svc-mgr, wrr 3:2:1): $vip of 6 answered"
	echo "  try: ip netns exec $NS_CLI curl http://10.9.0.1/"
	echo "       ip netns exec $NS_CLI curl 'http://[fd00:9::1]/'"
	echo "       ./build/provisioner/loomctl/loomctl -i lab affinity stats"
	echo "       the logs: $RUN/fwd-agent.log $RUN/svc-mgr.log"
	echo "  remove it with: deploy/lab.sh down"
	[ "$ok" -eq "${#SERVERS[@]}" ] && [ "$vip" -eq 6 ]
}

status() {
	for ns in "$NS_CLI" "$NS_RTR" loom-srv1 loom-srv2 loom-srv3; do
		if ip netns list | grep -qw "$ns"; then
			echo "== $ns"
			in_ns "$ns" ip -br addr | grep -v '^lo' || true
			in_ns "$ns" ss -ltnH 2>/dev/null | awk '{print "   listening " $4}' || true
		else
			echo "== $ns: absent"
		fi
	done
}

need_root
case "${1:-}" in
up) up ;;
down) down && echo "lab removed" ;;
status) status ;;
*)
	echo "usage: deploy/lab.sh up|status|down" >&2
	exit 2
	;;
esac
