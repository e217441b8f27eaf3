#!/usr/bin/env bash
# Runs a benchmark inside a private loopback-only network namespace (docs/testing.md), like the
# browser tests. Usage: bench/run.sh bench/call-setup.ts [args]
set -euo pipefail
cd "$(dirname "$0")/.."
script=${1:?usage: bench/run.sh SCRIPT [args]}
shift
args=$(printf ' %q' "$@")
# Load benchmarks hold tens of thousands of sockets: raise the descriptor limit and widen the namespace's
# ephemeral port range where allowed (both are best effort; the signalling benchmark also spreads its
# sockets over several 127.0.0.x source addresses).
limits='ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; echo "1024 65535" >/proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true'
inner="ip link set lo up && ${limits}; export BENCH_FD_LIMIT=\$(ulimit -n); exec node --import tsx ${script}${args}"
if [ "$(id -u)" = 0 ]; then
  exec unshare -n sh -c "$inner"
else
  exec unshare -rn sh -c "$inner"
fi
