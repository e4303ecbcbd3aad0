#!/usr/bin/env bash
# Every bench under Deno, then under Bun, one at a time (drain, blocked and overflow change
# fs.inotify.max_queued_events). Each prints its tables, and its report also goes, as one JSON
# line, to a results file (BENCH_RESULTS); after a full run bench/report.ts records them in
# bench/results.json and regenerates the table between <!-- bench:begin --> and <!-- bench:end -->
# in README.md and bench/README.md: review, then commit the three files together.
#   bash bench/run.sh                  every bench; replaces all recorded figures
#   bash bench/run.sh drain latency    only those; their figures replace theirs, the others stay
#   BENCH_QUICK=1 bash bench/run.sh    CI's short pass that keeps the benches from rotting: records
#                                      nothing, only shows the table its (meaningless) figures make
#   BENCH_READERS=thread,uring ...     notiq rows per reader where a bench can (see bench/common.ts)
set -u
cd "$(dirname "$0")/.."
npm run -s setup || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
names=("$@")
replace=
if [ ${#names[@]} -eq 0 ]; then
  names=(parse drain blocked overflow repair latency idle fresh ring_memory settle snapshot)
  replace=--replace
fi
results=$(mktemp "${TMPDIR:-/tmp}/notiq-bench-results-XXXXXX")
export BENCH_RESULTS=$results
status=0
for runtime in deno bun; do
  for name in "${names[@]}"; do
    echo "== $runtime bench/${name}_bench.ts"
    if [ "$runtime" = deno ]; then deno run -A "bench/${name}_bench.ts" || status=1
    else bun "bench/${name}_bench.ts" || status=1; fi
  done
done
echo "== bench/report.ts"
if [ "${BENCH_QUICK:-}" = 1 ]; then
  deno run -A bench/report.ts show "$results" || status=1
elif [ $status = 0 ]; then
  deno run -A bench/report.ts record $replace "$results" || status=1
else
  echo "not recorded: a bench failed; its results are in $results (deno run -A bench/report.ts record $results)"
  exit $status
fi
rm -f "$results"
exit $status
