# Tools the Kubernetes manifest tests need, installed once: kustomize (built from the pinned Go module in
# tools/kustomize, cached like FerretDB) and promtool (Debian's prometheus package).
# Source after common.sh; exports KUSTOMIZE_BIN, PROMTOOL_BIN and PROMETHEUS_BIN (the same package; the
# dashboard and alert queries are run against a real Prometheus in the e2e tests).

ensure_kustomize() {
  local root tools stamp cache
  root=$(project_root)
  tools="$root/tools/kustomize"
  command -v go >/dev/null || die "Go is required to build kustomize; install Go 1.26+"
  stamp=$(cat "$tools/go.mod" "$tools/go.sum" | sha256sum | cut -c1-16)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/vesta-api/kustomize-$stamp"
  if [[ ! -x "$cache/kustomize" ]]; then
    log "building kustomize (first run only; about a minute)"
    # A file of its own per build, as for FerretDB (services.sh): concurrent first runs must not collide.
    mkdir -p "$cache"
    (cd "$tools" && go build -trimpath -o "$cache/kustomize.tmp.$$" sigs.k8s.io/kustomize/kustomize/v5) ||
      die "kustomize build failed"
    mv "$cache/kustomize.tmp.$$" "$cache/kustomize"
  fi
  export KUSTOMIZE_BIN="$cache/kustomize"
}

ensure_promtool() {
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    log "installing promtool (Debian package prometheus; first run only)"
    apt_install prometheus
  fi
  PROMTOOL_BIN=$(command -v promtool)
  PROMETHEUS_BIN=$(command -v prometheus)
  export PROMTOOL_BIN PROMETHEUS_BIN
}
