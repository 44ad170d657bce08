#!/usr/bin/env bash
# `npm run bench` (./scripts/bench.sh bench) and `npm run bench:media` (./scripts/bench.sh media): checks the options
# first, so that --help or a typo answers at once instead of after a build, the services and minutes of load.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
Usage: npm run bench          cached profile reads against a bare Fastify server (about five minutes)
       npm run bench:media    the API's memory while many clients download one large file (under a minute)

Both build dist/ and dist-bench/ and need what npm run test:e2e needs (README, "Everyday npm scripts").
They take no options but --help; these variables change them (whole numbers):
  BENCH_DURATION_S      measured seconds per run, 1 or more (default 10)
  BENCH_ROUNDS          rounds of six runs, 1 or more (default 3)
  BENCH_PROFILES        profiles seeded, 1 to 5000000 (default 10000)
  BENCH_MEDIA_CLIENTS   clients downloading at once, 1 or more (default 100)
  BENCH_MEDIA_FILE_MB   size of the file they download in MiB, 1 to 99 (default 20)
USAGE
}

# check_count NAME [MAX]: NAME, when set, must be a whole number of at least 1 (and at most MAX).
check_count() {
  local name=$1 max=${2:-} value=${!1:-}
  [[ -z $value ]] && return
  if [[ ! $value =~ ^[1-9][0-9]{0,8}$ ]] || { [[ -n $max ]] && ((value > max)); }; then
    local range="of at least 1"
    [[ -n $max ]] && range="from 1 to $max"
    printf '%s must be a whole number %s (got "%s")\n' "$name" "$range" "$value" >&2
    exit 2
  fi
}

case ${1:-} in
  bench) entry=dist-bench/bench/bench.js vars=(BENCH_DURATION_S BENCH_ROUNDS BENCH_PROFILES) ;;
  media) entry=dist-bench/bench/media-memory.js vars=(BENCH_MEDIA_CLIENTS BENCH_MEDIA_FILE_MB) ;;
  *) usage >&2 && exit 2 ;;
esac
shift
for arg in "$@"; do
  [[ $arg == --help || $arg == -h ]] && usage && exit 0
  printf "Unknown option '%s'\nRun npm run bench -- --help for the variables.\n" "$arg" >&2
  exit 2
done
declare -A max=([BENCH_PROFILES]=5000000 [BENCH_MEDIA_FILE_MB]=99)
for name in "${vars[@]}"; do check_count "$name" "${max[$name]:-}"; done

node_modules/.bin/nest build
node_modules/.bin/tsc -p bench/tsconfig.json
exec ./scripts/with-services.sh node "$entry"
