#!/usr/bin/env bash
# Makes the FUSE tests runnable (tests/kernel/watch_filesystems_test.ts): Debian's bindfs, a FUSE
# file system that mirrors a directory, from apt (with fuse and libfuse2). A change made in the
# mirrored directory gives no inotify event on the mount: what `watch({ poll })` is for.
# Idempotent and quiet when it is there. Needs root (or sudo) for apt-get, and /dev/fuse to be of
# use. NOTIQ_FUSE=0 skips both this and the tests (tests/run.sh).
set -eu
if ! command -v bindfs >/dev/null 2>&1; then
  echo "== installing bindfs (apt-get)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends bindfs >/dev/null
fi
