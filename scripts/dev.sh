#!/usr/bin/env bash
# Development: installs what is missing, starts FerretDB (data kept in .data/) and Redis unless
# MONGODB_URI / REDIS_URL are set, seeds demo data once, and runs the API in watch mode.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/services.sh

# An API still listening there (another dev.sh, one whose terminal was closed) would answer at the printed URLs while
# this one's failed with EADDRINUSE in a log line and watch mode waited on: say so before starting anything.
for port in "${PORT:-3000}" "${METRICS_PORT:-9464}"; do
  ! port_open "$port" ||
    die "port $port is in use: stop what listens there (ss -ltnp 'sport = :$port' names it), or set PORT / METRICS_PORT"
done

ensure_node_modules
trap stop_services EXIT
# HUP: the terminal or IDE tab running this script was closed.
trap 'exit 130' INT TERM HUP

start_services "$PWD/.data/ferretdb" 27017

export PORT=${PORT:-3000} METRICS_PORT=${METRICS_PORT:-9464}
# Watch mode restarts the process on every save; no load balancer to drain for, so free the ports at once.
export SHUTDOWN_DRAIN_MS=${SHUTDOWN_DRAIN_MS:-0}
# Generous limits on a development machine, so `npm run load-test` (one address, many sign-ups and logins; searches
# and nearby queries from a few accounts) measures capacity rather than the limiter. Production keeps the report's
# limits (see the README's variables).
export THROTTLE_CREDENTIALS_LIMIT=${THROTTLE_CREDENTIALS_LIMIT:-100000}
export THROTTLE_CREDENTIALS_ACCOUNT_LIMIT=${THROTTLE_CREDENTIALS_ACCOUNT_LIMIT:-100000}
export THROTTLE_CREDENTIALS_GLOBAL_LIMIT=${THROTTLE_CREDENTIALS_GLOBAL_LIMIT:-100000}
export THROTTLE_ANONYMOUS_LIMIT=${THROTTLE_ANONYMOUS_LIMIT:-100000}
export THROTTLE_USER_LIMIT=${THROTTLE_USER_LIMIT:-100000}
export THROTTLE_SEARCH_LIMIT=${THROTTLE_SEARCH_LIMIT:-100000}
# Outside production the API signs tokens with a key written in this repository, and it listens on every interface:
# anyone who can reach this machine could sign themselves an admin token. A random key of this checkout's own instead,
# kept in .data/ so that tokens outlive watch-mode restarts.
if [[ -z "${JWT_SECRET:-}" ]]; then
  mkdir -p .data
  [[ -s .data/jwt-secret ]] ||
    (umask 077 && node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))' >.data/jwt-secret)
  JWT_SECRET=$(<.data/jwt-secret)
fi
export JWT_SECRET
# The Redis on 6379 is the machine's: it may hold another checkout's keys, and this one's from before .data/ was
# deleted, whose cached profiles, popular list and city counts the API served from a database started afresh. A key
# prefix of this .data/ folder's own keeps them apart.
if [[ -z "${REDIS_KEY_PREFIX:-}" ]]; then
  mkdir -p .data
  [[ -s .data/redis-key-prefix ]] ||
    node -e 'console.log(`vesta-dev-${require("crypto").randomBytes(4).toString("hex")}:`)' >.data/redis-key-prefix
  REDIS_KEY_PREFIX=$(<.data/redis-key-prefix)
fi
export REDIS_KEY_PREFIX
if [[ -f .data/seeded ]]; then
  log "demo data already seeded (delete .data/seeded to seed again)"
# grep reads the whole list: -q would stop at the match and npm, cut off, prints an error.
elif npm run | grep '^  seed$' >/dev/null; then
  log "seeding demo data"
  # .data/ holds FerretDB's files, so it is missing on a fresh clone run with MONGODB_URI set.
  npm run --silent seed && mkdir -p .data && touch .data/seeded
fi

cat >&2 <<INFO

  API      http://localhost:$PORT/v1
  Health   http://localhost:$PORT/health/ready
  Docs     http://localhost:$PORT/docs   (OpenAPI: /docs/openapi.json)
  Metrics  http://localhost:$METRICS_PORT/metrics
  MongoDB  $MONGODB_URI
  Redis    $REDIS_URL   (keys under $REDIS_KEY_PREFIX)

INFO
# In the background, in a process group of its own (set -m), and waited for: bash runs no trap while a foreground
# command runs, and a SIGTERM sent to this script alone (an IDE's stop button, `kill <pid>`) stopped nothing until
# 2026-12-05. The trap stops the API's whole tree (npm, nest --watch, node) through its group; Ctrl-C reaches this
# script, whose trap does the same. Closing the terminal sends SIGHUP to this script's group, not to the API's, which
# until 2026-12-07 went on holding PORT and METRICS_PORT, so the next dev.sh's API could not listen.
set -m
npm run --silent start:dev &
api=$!
set +m
trap 'kill -TERM -- "-$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true; exit 130' INT TERM HUP
wait "$api"
