/* The C reader for bench/drain_bench.ts: watch DIR for IN_CREATE, make N symlinks while nothing
 * reads (they wait in the kernel queue), then time read() + walk until all N are in hand.
 * Prints {"ms": drain time, "events": n, "overflow": 0|1}. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *dir = argv[1];
  long n = atol(argv[2]);
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE) < 0) { perror("inotify"); return 1; }
  char path[4096];
  for (long i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/f%07ld", dir, i);
    symlink("x", path);
  }
  static char buf[64 * 1024] __attribute__((aligned(16)));
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  long events = 0, overflow = 0, names = 0;
  while (events < n && !overflow) {
    ssize_t len = read(fd, buf, sizeof buf);
    if (len < 0) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) break;
      continue;
    }
    for (char *at = buf; at < buf + len;) {
      const struct inotify_event *ev = (const void *)at;
      if (ev->mask & IN_Q_OVERFLOW) overflow = 1;
      else events++;
      names += ev->len ? strlen(ev->name) : 0;
      at += sizeof *ev + ev->len;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("{\"ms\": %.3f, \"events\": %ld, \"overflow\": %ld, \"nameBytes\": %ld}\n",
         (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6, events, overflow, names);
  return 0;
}
