#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole test suite: installs what is missing, builds in build/, runs the
# unit, fixture and integration tests, and ends with "N passed, N failed".
# Run as root (network-namespace tests need it). Extra arguments go to
# `meson test` (e.g. --suite unit).
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build --buildtype=debugoptimized
fi
ninja -C build

status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?

# meson's own summary is not one a CI reader knows: print the plain line
/usr/bin/python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
ok = fail = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r == "SKIP":
        skip += 1
    else:
        fail += 1
print(f"{ok} passed, {fail} failed, {skip} skipped")
PY
exit $status
