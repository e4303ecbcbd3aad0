#!/usr/bin/env bash
# The whole test suite on both runtimes (`npm test`). Installs Deno and Bun from npm if they are
# missing, type-checks once, runs tests/ and the doc examples under Deno, tests/ under Bun, and
# ends with one line: "N passed, M failed" summed over both.
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
echo "== deno lint, deno fmt --check"
deno lint -q || status=1
deno fmt --check -q || status=1
echo "== deno check"
deno check mod.ts cli.ts tests/ bench/ examples/ || status=1
echo "== deno test (tests/ and the examples in the docs)"
deno test -A --no-check --doc --junit-path="$reports/deno.xml" mod.ts queue/ tests/ || status=1
echo "== bun test"
bun test --reporter=junit --reporter-outfile="$reports/bun.xml" tests/ || status=1
echo "== summary"
node tests/summary.mjs "$reports/deno.xml" "$reports/bun.xml" || status=1
[ -n "${NOTIQ_REPORTS:-}" ] || rm -rf "$reports"
exit $status
