#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Create the users and the group Loom's daemons run as, from the list
# systemd uses (deploy/systemd/loom.sysusers), on machines where
# systemd-sysusers does not do it. Idempotent: creates only what is missing.
#
#   deploy/users.sh [--check]     --check: only say whether all exist (exit 1 if not)
set -euo pipefail

list="$(dirname "$0")/systemd/loom.sysusers"
check=false
[ "${1:-}" = --check ] && check=true

if ! $check && [ "$(id -u)" -ne 0 ]; then
	echo "users.sh: run as root (it creates system users)" >&2
	exit 1
fi

missing=0
# Fields as sysusers.d(5) writes them: type, name, id, "GECOS", home, shell
# (the GECOS quoted). The file is ours, so eval splits the quotes.
while read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	eval "set -- $line"
	type=$1 name=$2
	case "$type" in
	g)
		getent group "$name" >/dev/null && continue
		missing=1
		$check || groupadd --system "$name"
		;;
	u)
		getent passwd "$name" >/dev/null && continue
		missing=1
		$check || useradd --system --user-group --no-create-home --comment "${4:--}" \
			--home-dir "${5:-/}" --shell "${6:-/usr/sbin/nologin}" "$name"
		;;
	m)
		group=$3
		id -nG "$name" 2>/dev/null | tr ' ' '\n' | grep -qx "$group" && continue
		missing=1
		$check || usermod --append --groups "$group" "$name"
		;;
	*)
		echo "users.sh: $list: unknown line: $line" >&2
		exit 1
		;;
	esac
done <"$list"

if $check && [ "$missing" -ne 0 ]; then
	echo "users.sh: some of Loom's users or groups are missing (run deploy/users.sh)" >&2
	exit 1
fi
exit 0
