#!/usr/bin/env bash
# The tests that need a kernel with CONFIG_WATCH_QUEUE, run inside the VM under Deno, Bun and Node 26:
#   bash tests/vm/run.sh -- bash tests/vm/suite.sh [REPORT_DIR]
# Type-checking happens on the host (tests/run.sh); JavaScript is ~50x slower under TCG.
# JUnit reports go to REPORT_DIR (default tests/vm/.reports), for tests/summary.mjs.
set -u
reports=${1:-tests/vm/.reports}
mkdir -p "$reports"
files=(tests/vm/smoke.vm.ts tests/vm/ninep.vm.ts tests/vm/poll.vm.ts tests/kernel/watch_queue_test.ts tests/kernel/keys_test.ts
  tests/kernel/uring_watch_queue_test.ts)
[ -f tests/kernel/cli_keys_test.ts ] && files+=(tests/kernel/cli_keys_test.ts)
status=0
echo "== deno test (VM, $(uname -r))"
deno test -A --no-check --junit-path="$reports/vm-deno.xml" "${files[@]}" || status=1
echo "== bun test (VM, $(uname -r))"
bun test --timeout 60000 --reporter=junit --reporter-outfile="$reports/vm-bun.xml" "${files[@]/#/./}" || status=1
echo "== node 26 --test (VM, $(uname -r), node:ffi)"
node_modules/node26/bin/node --experimental-ffi --disable-warning=ExperimentalWarning --test --test-concurrency=1 \
  --test-timeout=300000 --test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit \
  --test-reporter-destination="$reports/vm-node26.xml" "${files[@]}" || status=1
exit $status
