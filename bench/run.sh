#!/usr/bin/env bash
# Every bench under Deno, then under Bun, one at a time (drain, blocked and overflow change
# fs.inotify.max_queued_events). `BENCH_QUICK=1 bash bench/run.sh` is CI's seconds-long pass that
# keeps them from rotting; `bash bench/run.sh drain latency` runs only those.
set -u
cd "$(dirname "$0")/.."
npm run -s setup || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(parse drain blocked overflow repair latency idle settle snapshot)
status=0
for runtime in deno bun; do
  for name in "${names[@]}"; do
    echo "== $runtime bench/${name}_bench.ts"
    if [ "$runtime" = deno ]; then deno run -A "bench/${name}_bench.ts" || status=1
    else bun "bench/${name}_bench.ts" || status=1; fi
  done
done
exit $status
