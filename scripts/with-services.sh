#!/usr/bin/env bash
# Runs a command with MONGODB_URI / REDIS_URL pointing at real servers: the ones already set, or a
# throw-away FerretDB (fresh data directory) and a local Redis started here and stopped afterwards.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/services.sh"
source "$(dirname "$0")/lib/k8s-tools.sh"

data_dir=$(mktemp -d "${TMPDIR:-/tmp}/vesta-test-XXXXXX")
cleanup() { stop_services; rm -rf "$data_dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The outage tests start FerretDB servers of their own, so the binary is needed even with MONGODB_URI set.
ensure_ferretdb
# The manifest tests render k8s/ and check the alert rules.
ensure_kustomize
ensure_promtool
start_services "$data_dir"
log "MongoDB-wire: $MONGODB_URI  Redis: $REDIS_URL"
"$@"
