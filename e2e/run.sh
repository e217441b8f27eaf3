#!/usr/bin/env bash
# Runs the browser tests inside a private network namespace with only loopback (docs/testing.md):
# server, browsers and media stay on 127.0.0.1. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: /usr/bin/chromium is missing; install Debian's chromium (apt-get install -y chromium)" >&2
  exit 1
fi
if [ ! -f packages/sdk/dist/parley.js ]; then
  echo "e2e: the SDK is not built; run npm run build" >&2
  exit 1
fi
args=$(printf ' %q' "$@")
inner="ip link set lo up && exec npx vitest run --config e2e/vitest.config.ts${args}"
if [ "$(id -u)" = 0 ]; then
  exec unshare -n sh -c "$inner"
else
  exec unshare -rn sh -c "$inner"
fi
