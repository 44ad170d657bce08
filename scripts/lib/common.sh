# Shared helpers for the project's scripts. Source it; it defines functions only.

log() { printf '\033[1;34m[vesta]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[vesta]\033[0m %s\n' "$*" >&2; exit 1; }

project_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

# A TCP port the OS considers free right now.
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for_port PORT SECONDS NAME
wait_for_port() {
  local port=$1 seconds=$2 name=$3 i
  for ((i = 0; i < seconds * 10; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  die "$name did not open port $port within ${seconds}s"
}

# apt_install PACKAGE...: installs Debian packages, through sudo unless running as root.
apt_install() {
  local run=()
  [[ $(id -u) -eq 0 ]] || run=(sudo)
  command -v apt-get >/dev/null || die "apt-get is missing: install $* yourself"
  "${run[@]}" apt-get update -qq &&
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    die "apt-get install $* failed"
}

# Installs npm dependencies when node_modules is missing or older than the lockfile.
ensure_node_modules() {
  local root; root=$(project_root)
  if [[ ! -f "$root/node_modules/.package-lock.json" || "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
    # npm ci first deletes every entry of node_modules, following a symlink: it would empty the packages of the
    # checkout the link points to (a second clone or worktree sharing them), while that one runs.
    if [[ -L "$root/node_modules" ]]; then
      log "node_modules links to $(readlink -f "$root/node_modules"); not running npm ci through it (run it there if the lockfile changed)"
      return 0
    fi
    log "installing npm dependencies (npm ci)"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
