#!/usr/bin/env bash
# The whole suite: lint, format and type checks, unit tests, then integration and e2e tests
# against real FerretDB and Redis that this script starts. Exit 0 only when everything passes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

ensure_node_modules

log "static checks (eslint, prettier, tsc)"
npm run --silent check

log "unit tests"
npm run --silent test

log "integration and e2e tests"
npm run --silent test:e2e
