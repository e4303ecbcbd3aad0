#!/usr/bin/env bash
# Makes the browser test runnable: Debian's headless-capable Chromium at /usr/bin/chromium (from
# apt; Playwright's own browser downloads are not used) and playwright-core from npm to drive it.
# Idempotent and quiet when everything is there. Needs root (or sudo) for apt-get.
set -eu
cd "$(dirname "$0")/../.."
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt-get)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi
if [ ! -f node_modules/playwright-core/package.json ]; then
  npm install --no-audit --no-fund
fi
