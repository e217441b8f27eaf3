#!/usr/bin/env bash
# Runs a benchmark inside a private loopback-only network namespace (shared/design/testing.md), like the
# browser tests. Usage: bench/run.sh bench/call-setup.ts [args]
set -euo pipefail
cd "$(dirname "$0")/.."
script=${1:?usage: bench/run.sh SCRIPT [args]}
shift
args=$(printf ' %q' "$@")
inner="ip link set lo up && exec node --import tsx ${script}${args}"
if [ "$(id -u)" = 0 ]; then
  exec unshare -n sh -c "$inner"
else
  exec unshare -rn sh -c "$inner"
fi
