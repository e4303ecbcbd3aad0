/* The C subject of bench/latency_bench.ts: ITER times, make a symlink DIR/n<i> and wait (poll +
 * read) for its IN_CREATE. Prints {"us": [latencies in microseconds, in order]}. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *dir = argv[1];
  long iterations = atol(argv[2]);
  char path[4096];
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE) < 0) { perror("setup"); return 1; }
  static char buf[64 * 1024] __attribute__((aligned(16)));
  printf("{\"us\": [");
  for (long i = 0; i < iterations; i++) {
    snprintf(path, sizeof path, "%s/n%ld", dir, i);
    double t0 = now();
    if (symlink("x", path) != 0) return 1;
    for (;;) {
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, -1);
      ssize_t len = read(fd, buf, sizeof buf);
      if (len > 0) break;
    }
    double t1 = now();
    printf("%s%.3f", i ? "," : "", t1 - t0);
  }
  printf("]}\n");
  return 0;
}
