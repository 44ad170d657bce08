# Local MongoDB-wire server (FerretDB) and Redis for development and tests.
# Source after common.sh. start_services exports MONGODB_URI, REDIS_URL and FERRETDB_BIN,
# reusing MONGODB_URI / REDIS_URL when the caller already set them; stop_services undoes it.

STARTED_PIDS=()

# Builds the pinned FerretDB wrapper (tools/ferretdb) once per version; later runs reuse the binary.
ensure_ferretdb() {
  local root tools stamp cache
  root=$(project_root)
  tools="$root/tools/ferretdb"
  command -v go >/dev/null || die "Go is required to build FerretDB (the local MongoDB-wire server); install Go 1.26+"
  stamp=$(cat "$tools/go.mod" "$tools/go.sum" "$tools/main.go" | sha256sum | cut -c1-16)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/vesta-api/ferretdb-$stamp"
  if [[ ! -x "$cache/ferretdb" ]]; then
    log "building FerretDB (first run only; about a minute)"
    # Each build writes its own file and renames it into place, so two scripts starting together on a fresh machine
    # (the tests and dev.sh, say) both succeed; with one shared temporary file, the second rename failed.
    mkdir -p "$cache"
    (cd "$tools" && go build -trimpath -o "$cache/ferretdb.tmp.$$" .) || die "FerretDB build failed"
    mv "$cache/ferretdb.tmp.$$" "$cache/ferretdb"
  fi
  export FERRETDB_BIN="$cache/ferretdb"
}

# start_ferretdb DATA_DIR [PORT]: starts FerretDB on SQLite files in DATA_DIR; sets FERRETDB_PORT.
start_ferretdb() {
  local dir=$1 port=${2:-$(free_port)}
  mkdir -p "$dir"
  "$FERRETDB_BIN" --listen-addr="127.0.0.1:$port" --handler=sqlite --sqlite-url="file:$dir/" --log-level=warn \
    >"$dir/ferretdb.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$port" 30 "FerretDB (log: $dir/ferretdb.log)"
  FERRETDB_PORT=$port
}

# redis_answers PORT: whether a Redis on 127.0.0.1:PORT answers PING, asked over bash's /dev/tcp: a Redis run in
# Docker leaves no redis-cli on the host, and asking through redis-cli would take such a Redis for none.
redis_answers() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 reply <&3 && [[ $reply == "+PONG"* ]]
  ) 2>/dev/null
}

# ensure_redis [PORT]: uses the Redis answering on PORT (6379); otherwise starts redis-server on a free port
# (installing it if needed).
ensure_redis() {
  local local_port=${1:-6379}
  if redis_answers "$local_port"; then
    export REDIS_URL="redis://127.0.0.1:$local_port"
    return
  fi
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server (Debian package)"
    apt_install redis-server
  fi
  local port; port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$port" 10 "redis-server"
  export REDIS_URL="redis://127.0.0.1:$port"
}

# start_services DATA_DIR [PREFERRED_MONGO_PORT]
start_services() {
  local data_dir=$1 preferred_port=${2:-}
  if [[ -z "${MONGODB_URI:-}" ]]; then
    ensure_ferretdb
    local port=""
    [[ -n "$preferred_port" ]] && ! port_open "$preferred_port" && port=$preferred_port
    start_ferretdb "$data_dir" "$port"
    export MONGODB_URI="mongodb://127.0.0.1:$FERRETDB_PORT/vesta"
  fi
  [[ -n "${REDIS_URL:-}" ]] || ensure_redis
}

stop_services() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  STARTED_PIDS=()
}
