#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Loom namespace lab: a client, a router where loom-fwd-agent will run,
# and three nginx servers, all on this machine in network namespaces.
#
#   deploy/lab.sh up                 install what is missing, build, create the lab, check it
#   deploy/lab.sh up --supervised    the same, every daemon under runsvdir as its own
#                                    user with only its capabilities (docs/deploy.md)
#   deploy/lab.sh status             show the namespaces, addresses and what runs in them
#   deploy/lab.sh down               remove everything the lab created
#
# Environment: LOOM_LAB names the lab (default loom: namespaces loom-cli,
# loom-rtr, loom-srv1..3, state in /run/loom-lab, shared memory of
# instance lab); another name gives a second, independent lab (the tests').
# LOOM_BUILD is the build directory (default build); with LOOM_NO_BUILD=1
# the lab uses it as it is, neither installing packages nor building.
#
#   LAB-cli  10.1.0.2/24  fd00:1::2/64
#      | veth
#   LAB-rtr  10.1.0.1/24  fd00:1::1/64   (router; the forwarding agent's place)
#            10.2.0.1/24  fd00:2::1/64   bridge lbr0 to the servers
#      | veth x3
#   LAB-srv1..3  10.2.0.11..13/24  fd00:2::11..13/64   nginx on port 80
#
#   LAB-rtr  10.5.0.1/24 (reng) --- LAB-eng  10.5.0.2/24 (e0)   loom-pkt-engine
#            e1 10.3.0.1 --- f0 10.3.0.2  LAB-fw  (a Linux router with nftables)
#            e2 10.4.0.1 --- LAB-sw (bridge) --- f1 10.4.0.2 (LAB-fw)
#                                      +------- w0 10.4.0.11 LAB-web (nginx,
#                                               10.8.0.1 on lo: loopback mode)
#
# The router runs loom-fwd-agent (AF_PACKET on rtr0, lbr0 and reng, the
# kernel's forwarding off) and loom-svc-mgr with the demo services: virtual
# addresses 10.9.0.1:80 and [fd00:9::1]:80 balanced over the three nginx
# servers (weighted round robin 3:2:1, HTTP health checks), and
# loom-provisioner (REST API on 10.1.0.1:8080, user admin, password in
# RUN/prov/admin.pw). The engine steers the demo chain 10.8.0.1:80 through
# the firewall to the web server, both directions. Each daemon's start-up is
# a lab_conf_<daemon> function below.
set -euo pipefail
cd "$(dirname "$0")/.."

LAB=${LOOM_LAB:-loom}
BUILD=${LOOM_BUILD:-build}
RUN=/run/$LAB-lab
NS_CLI=$LAB-cli
NS_RTR=$LAB-rtr
NS_ENG=$LAB-eng
CHAIN_NS=(eng fw sw web)
SERVERS=(1 2 3)
# the agent's instance; the manager's is INST-mgr
INST=lab
[ "$LAB" = loom ] || INST=$LAB
# Every daemon the supervised lab runs (deploy/runit/<daemon>), and where
# the build puts it.
DAEMONS=(loom-fwd-agent loom-svc-mgr loom-pkt-engine loom-provisioner)
declare -A BIN=(
	[loom-fwd-agent]=fwd-agent/loom-fwd-agent [loom-svc-mgr]=svc-mgr/loom-svc-mgr
	[loom-pkt-engine]=pkt-engine/loom-pkt-engine [loom-provisioner]=provisioner/loom-provisioner
)

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

# The supervisor goes first, so that it restarts nothing while the lab goes.
stop_supervisor() {
	[ -f "$RUN/runsvdir.pid" ] || return 0
	local svs=("$RUN"/service/*)
	if [ -e "${svs[0]}" ]; then
		# SIGTERM, and SIGKILL for a daemon still there after 10 s
		sv -w 10 force-stop "${svs[@]}" >/dev/null 2>&1 || true
		sv exit "${svs[@]}" "${svs[@]/%//log}" >/dev/null 2>&1 || true
	fi
	stop_pid "$RUN/runsvdir.pid"
}

down() {
	stop_supervisor
	stop_pid "$RUN/fwd-agent.pid"
	stop_pid "$RUN/svc-mgr.pid"
	stop_pid "$RUN/pkt-engine.pid"
	stop_pid "$RUN/provisioner.pid"
	for s in "${SERVERS[@]}"; do
		if [ -f "$RUN/srv$s/nginx.pid" ]; then
			kill "$(cat "$RUN/srv$s/nginx.pid")" 2>/dev/null || true
		fi
		ip netns del "$LAB-srv$s" 2>/dev/null || true
	done
	if [ -f "$RUN/web/nginx.pid" ]; then
		kill "$(cat "$RUN/web/nginx.pid")" 2>/dev/null || true
	fi
	for n in "${CHAIN_NS[@]}"; do
		ip netns del "$LAB-$n" 2>/dev/null || true
	done
	ip netns del "$NS_RTR" 2>/dev/null || true
	ip netns del "$NS_CLI" 2>/dev/null || true
	rm -f "/dev/shm/loom.$INST."* "/dev/shm/loom.$INST-mgr."* "/dev/shm/loom.$INST-eng."*
	rm -rf "$RUN"
}

# nginx_conf NAME BODY: an nginx in $RUN/NAME serving BODY on port 80
nginx_conf() {
	local dir=$RUN/$1
	mkdir -p "$dir/www"
	echo "$2" >"$dir/www/index.html"
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

topology() {
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
		local ns=$LAB-srv$s
		ip netns add "$ns"
		ip link add eth0 netns "$ns" type veth peer name "srv$s" netns "$NS_RTR"
		in_ns "$NS_RTR" ip link set "srv$s" master lbr0 up
		in_ns "$ns" ip link set lo up
		in_ns "$ns" ip addr add "10.2.0.1$s/24" dev eth0
		in_ns "$ns" ip -6 addr add "fd00:2::1$s/64" dev eth0 nodad
		in_ns "$ns" ip link set eth0 up
		in_ns "$ns" ip route add default via 10.2.0.1
		in_ns "$ns" ip -6 route add default via fd00:2::1
		nginx_conf "srv$s" "loom lab server $s"
		in_ns "$ns" nginx -c "$RUN/srv$s/nginx.conf"
	done

	# loom-fwd-agent routes; the router's kernel does not
	in_ns "$NS_RTR" sysctl -qw net.ipv4.ip_forward=0
	in_ns "$NS_RTR" sysctl -qw net.ipv6.conf.all.forwarding=0
	chain_topology
}

# veth NS_A DEV_A MAC_A NS_B DEV_B MAC_B: a link, both ends up
veth() {
	ip link add "$2" netns "$1" address "$3" type veth peer name "$5" netns "$4" address "$6"
	in_ns "$1" ip link set "$2" up
	in_ns "$4" ip link set "$5" up
}

# The service chain: the engine between the router and the appliances; the
# engine's kernel answers ARP for its addresses and forwards nothing.
MAC_RENG=02:00:00:05:00:01 MAC_E0=02:00:00:05:00:02 MAC_E1=02:00:00:03:00:01
MAC_F0=02:00:00:03:00:02 MAC_E2=02:00:00:04:00:01 MAC_F1=02:00:00:04:00:02
MAC_W0=02:00:00:04:00:0b
chain_topology() {
	local n
	for n in "${CHAIN_NS[@]}"; do
		ip netns add "$LAB-$n"
		in_ns "$LAB-$n" ip link set lo up
	done
	veth "$NS_RTR" reng $MAC_RENG "$NS_ENG" e0 $MAC_E0
	in_ns "$NS_RTR" ip addr add 10.5.0.1/24 dev reng
	in_ns "$NS_RTR" ip route add 10.8.0.0/24 via 10.5.0.2
	veth "$NS_ENG" e1 $MAC_E1 "$LAB-fw" f0 $MAC_F0
	in_ns "$LAB-sw" ip link add br0 type bridge
	in_ns "$LAB-sw" ip link set br0 up
	veth "$NS_ENG" e2 $MAC_E2 "$LAB-sw" p0 02:00:00:04:01:00
	veth "$LAB-fw" f1 $MAC_F1 "$LAB-sw" p1 02:00:00:04:01:01
	veth "$LAB-web" w0 $MAC_W0 "$LAB-sw" p2 02:00:00:04:01:02
	for n in p0 p1 p2; do
		in_ns "$LAB-sw" ip link set "$n" master br0
	done
	in_ns "$NS_ENG" ip addr add 10.5.0.2/24 dev e0
	in_ns "$NS_ENG" ip addr add 10.3.0.1/24 dev e1
	in_ns "$NS_ENG" ip addr add 10.4.0.1/24 dev e2
	in_ns "$NS_ENG" sysctl -qw net.ipv4.ip_forward=0
	# the firewall: a real router between its arms, counting both ways
	in_ns "$LAB-fw" ip addr add 10.3.0.2/24 dev f0
	in_ns "$LAB-fw" ip addr add 10.4.0.2/24 dev f1
	in_ns "$LAB-fw" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$LAB-fw" ip route add 10.8.0.0/24 via 10.4.0.1
	in_ns "$LAB-fw" ip route add 10.1.0.0/24 via 10.3.0.1
	in_ns "$LAB-fw" nft -f - <<'EOF'
table inet loomfw {
	chain forward {
		type filter hook forward priority 0; policy accept;
		tcp dport 80 counter
		tcp sport 80 counter
	}
}
EOF
	# the web server in loopback mode: the service address on lo, no ARP for it
	in_ns "$LAB-web" ip addr add 10.4.0.11/24 dev w0
	in_ns "$LAB-web" ip addr add 10.8.0.1/32 dev lo
	in_ns "$LAB-web" sysctl -qw net.ipv4.conf.all.arp_ignore=1
	in_ns "$LAB-web" sysctl -qw net.ipv4.conf.all.arp_announce=2
	in_ns "$LAB-web" ip route add default via 10.4.0.1
	nginx_conf web "loom lab chain server"
	in_ns "$LAB-web" nginx -c "$RUN/web/nginx.conf"
}

# lab_conf_<daemon> FILE EXTRA writes the daemon's lab configuration to
# FILE, with the line EXTRA among its top-level keys (the supervised lab
# passes "shm-group: loom"), and prints the namespace the daemon runs in.
# Returning 1 means no lab configuration yet: the lab runs without it.
lab_conf_loom_svc_mgr() {
	cat >"$1" <<EOF
instance: $INST-mgr
host-name: $NS_RTR
address: 10.2.0.1
listen: [ "ipc://$RUN/ipc/mgr.sock" ]
metrics: 127.0.0.1:9102
$2
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
	echo "$NS_RTR"
}

lab_conf_loom_fwd_agent() {
	printf '%s\n' "instance: $INST" "host-name: $NS_RTR" "backend: afpacket" "$2" \
		"metrics: 127.0.0.1:9101" \
		"interfaces:" "  - name: rtr0" "  - name: lbr0" "  - name: reng" "managers:" \
		"  - endpoint: ipc://$RUN/ipc/mgr.sock" >"$1"
	echo "$NS_RTR"
}

# The chain 10.8.0.1:80: the firewall (in on e1, out on e2), then the web
# server in loopback mode; replies the other way round.
lab_conf_loom_pkt_engine() {
	cat >"$1" <<EOF
instance: $INST-eng
backend: afpacket
metrics: 127.0.0.1:9103
interfaces:
  - { name: e0, role: client, gateway-mac: "$MAC_RENG" }
  - { name: e1, role: device }
  - { name: e2, role: device }
devices:
  - { name: fw, function: firewall, mac: "$MAC_F0", interface: e1, out-interface: e2,
      out-mac: "$MAC_F1" }
  - { name: web, function: server, mac: "$MAC_W0", interface: e2, mode: loopback }
services:
  - name: demo-chain
    address: 10.8.0.1
    interface: e0
    ports: [ { port: 80 } ]
    chain: [ fw, web ]
EOF
	echo "$NS_ENG"
}

# The REST API on the router's client-side address; its database and the
# first administrator's password under RUN/prov (the daemon's user's).
lab_conf_loom_provisioner() {
	mkdir -p "$RUN/prov"
	[ -f "$RUN/prov/admin.pw" ] || head -c 12 /dev/urandom | base64 >"$RUN/prov/admin.pw"
	chmod 600 "$RUN/prov/admin.pw"
	if id loom-prov >/dev/null 2>&1 && [ "$2" ]; then
		chown -R loom-prov "$RUN/prov"
	fi
	cat >"$1" <<EOF
listen-address: 10.1.0.1
port: 8080
database: $RUN/prov/provisioner.db
admin-password-file: $RUN/prov/admin.pw
EOF
	echo "$NS_RTR"
}

# The daemons run directly as root, stopped through their pid files.
start_direct() {
	local d
	for d in loom-svc-mgr loom-fwd-agent loom-pkt-engine loom-provisioner; do
		local short=${d#loom-} ns
		ns=$("lab_conf_${d//-/_}" "$RUN/$short.yaml" "")
		# not through in_ns: a function in the background is a subshell,
		# and $! must be the daemon itself (ip netns exec execs it) for
		# `down` to stop it
		ip netns exec "$ns" "$BUILD/${BIN[$d]}" -c "$RUN/$short.yaml" \
			>"$RUN/$short.log" 2>&1 &
		echo $! >"$RUN/$short.pid"
	done
	sleep 0.5
	for d in fwd-agent svc-mgr pkt-engine provisioner; do
		if ! kill -0 "$(cat "$RUN/$d.pid")" 2>/dev/null; then
			echo "lab.sh: loom-$d did not start:" >&2
			cat "$RUN/$d.log" >&2
			exit 1
		fi
	done
}

# Every daemon under runsvdir (deploy/runit): a copy of its service
# directory in $RUN/sv with the lab's settings in env/, linked into
# $RUN/service when it is built and the lab has a configuration for it.
start_supervised() {
	local d started=()
	./deploy/users.sh
	# the manager's ipc:// socket: the directory is the loom group's and
	# setgid, so the socket is the group's too; the daemons' umask 007
	# lets the group connect and nobody else
	install -d -m 2770 -g loom "$RUN/ipc"
	mkdir -p "$RUN/sv" "$RUN/service" "$RUN/log"
	cp deploy/runit/loom-run "$RUN/sv/"
	for d in "${DAEMONS[@]}"; do
		local sv=$RUN/sv/$d conf=$RUN/${d#loom-}.yaml ns
		if ! ns=$("lab_conf_${d//-/_}" "$conf" "shm-group: loom"); then
			echo "  $d: no lab configuration yet, not started"
			continue
		fi
		if [ ! -x "$BUILD/${BIN[$d]}" ]; then
			echo "  $d: not built ($BUILD/${BIN[$d]}), not started"
			continue
		fi
		cp -r "deploy/runit/$d" "$sv"
		mkdir -p "$sv/env"
		realpath "$BUILD/${BIN[$d]}" >"$sv/env/LOOM_BIN"
		echo "$conf" >"$sv/env/LOOM_CONF"
		echo "$ns" >"$sv/env/LOOM_NETNS"
		echo "$RUN/log" >"$sv/env/LOOM_LOG_DIR"
		ln -s "$sv" "$RUN/service/$d"
		started+=("$RUN/service/$d")
	done
	# runsvdir outlives this script: its own session, and none of our
	# descriptors (a caller may be reading our output until it closes)
	setsid runsvdir -P "$RUN/service" >"$RUN/runsvdir.log" 2>&1 </dev/null &
	echo $! >"$RUN/runsvdir.pid"
	# runsv up for each within 10 s, each daemon up, and still up a second
	# later (not restarting)
	for _ in $(seq 100); do
		local waiting=0
		for d in "${started[@]}"; do
			[ -p "$d/supervise/ok" ] || waiting=1
		done
		[ "$waiting" -eq 0 ] && break
		sleep 0.1
	done
	if ! sv -w 10 check "${started[@]}" >/dev/null || ! sleep 1 ||
		! sv -w 1 check "${started[@]}" >/dev/null; then
		echo "lab.sh: not every daemon runs under the supervisor:" >&2
		sv status "${started[@]}" >&2 || true
		tail -n 20 "$RUN"/log/*/current >&2 || true
		exit 1
	fi
}

up() {
	local supervised=false
	[ "${1:-}" = --supervised ] && supervised=true
	if [ -z "${LOOM_NO_BUILD:-}" ]; then
		./deploy/install-deps.sh
		if [ ! -f "$BUILD/build.ninja" ]; then
			meson setup "$BUILD" --buildtype=debugoptimized >/dev/null
		fi
		ninja -C "$BUILD" >/dev/null
	fi
	down
	mkdir -p "$RUN/ipc"
	topology
	if $supervised; then
		start_supervised
	else
		start_direct
	fi

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
	local chain=0 fw api=no
	for _ in 1 2 3; do
		if in_ns "$NS_CLI" curl -s --retry 2 --retry-delay 1 --retry-all-errors --max-time 3 \
			http://10.8.0.1/ | grep -q "loom lab chain server"; then
			chain=$((chain + 1))
		fi
	done
	fw=$(in_ns "$LAB-fw" nft list chain inet loomfw forward | grep -c 'packets [1-9]') || true
	local pw
	pw=$(cat "$RUN/prov/admin.pw")
	if in_ns "$NS_CLI" curl -s --max-time 3 -X POST -H 'Content-Type: application/json' \
		-d "{\"user\":\"admin\",\"password\":\"$pw\"}" http://10.1.0.1:8080/api/v1/login |
		grep -q token; then
		api=yes
	fi
	local logs="$RUN/*.log"
	$supervised && logs="$RUN/log/*/current; sv status $RUN/service/*"
	echo "lab is up: client $NS_CLI, router $NS_RTR, servers $LAB-srv1..3 (nginx on :80)"
	echo "  client -> servers through loom-fwd-agent: $ok of ${#SERVERS[@]} answered"
	echo "  client -> virtual service 10.9.0.1:80 (loom-svc-mgr, wrr 3:2:1): $vip of 6 answered"
	echo "  client -> service chain 10.8.0.1:80 (loom-pkt-engine: firewall, web): $chain of 3" \
		"answered; the firewall counted $fw of 2 directions"
	echo "  loom-provisioner API on http://10.1.0.1:8080 (admin, password in $RUN/prov/admin.pw):" \
		"login $api"
	echo "  try: ip netns exec $NS_CLI curl http://10.9.0.1/"
	echo "       ip netns exec $NS_CLI curl 'http://[fd00:9::1]/'"
	local ctl=$BUILD/provisioner/loomctl/loomctl
	[[ $ctl = /* ]] || ctl=./$ctl
	echo "       $ctl -i $INST affinity stats"
	echo "       ip netns exec $NS_RTR curl -s 127.0.0.1:9101/metrics   (9102 the manager," \
		"http://10.1.0.1:8080/metrics the provisioner; the engine's on 9103 in $NS_ENG)"
	echo "       the logs: $logs"
	echo "  remove it with: deploy/lab.sh down"
	[ "$ok" -eq "${#SERVERS[@]}" ] && [ "$vip" -eq 6 ] && [ "$chain" -eq 3 ] && [ "$fw" -eq 2 ] &&
		[ "$api" = yes ]
}

status() {
	for ns in "$NS_CLI" "$NS_RTR" "$LAB-srv1" "$LAB-srv2" "$LAB-srv3" "${CHAIN_NS[@]/#/$LAB-}"; do
		if ip netns list | grep -qw "$ns"; then
			echo "== $ns"
			in_ns "$ns" ip -br addr | grep -v '^lo' || true
			in_ns "$ns" ss -ltnH 2>/dev/null | awk '{print "   listening " $4}' || true
		else
			echo "== $ns: absent"
		fi
	done
	if [ -f "$RUN/runsvdir.pid" ]; then
		echo "== supervised (runsvdir pid $(cat "$RUN/runsvdir.pid"))"
		sv status "$RUN"/service/* || true
	fi
}

need_root
case "${1:-} ${2:-}" in
"up " | "up --supervised") up "${2:-}" ;;
"down ") down && echo "lab removed" ;;
"status ") status ;;
*)
	echo "usage: deploy/lab.sh up [--supervised] | status | down" >&2
	exit 2
	;;
esac
