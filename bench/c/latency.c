/* The C subjects of bench/latency_bench.ts: ITER times, make a symlink DIR/n<i> and wait for its
 * IN_CREATE. `latency DIR ITER`: this thread polls and reads. `latency DIR ITER thread`: a reader
 * thread parked in poll() reads, as notiq's does, and this thread spins until it has the event —
 * the floor of that design: the kernel wakes the reader inside the writer's symlink(2).
 * Prints {"us": [latencies in microseconds, in order]}. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static int fd;
static atomic_long events_read;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Blocks in poll() until an event is queued, then reads it: returns once one read got bytes. */
static void read_one(void) {
  static char buf[64 * 1024] __attribute__((aligned(16)));
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, -1);
    if (read(fd, buf, sizeof buf) > 0) return;
  }
}

static void *reader(void *unused) {
  for (;;) {
    read_one();
    atomic_fetch_add(&events_read, 1);
  }
  return unused;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *dir = argv[1];
  long iterations = atol(argv[2]);
  int threaded = argc > 3 && !strcmp(argv[3], "thread");
  char path[4096];
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE) < 0) { perror("setup"); return 1; }
  pthread_t thread;
  if (threaded && pthread_create(&thread, NULL, reader, NULL) != 0) return 1;
  printf("{\"us\": [");
  for (long i = 0; i < iterations; i++) {
    snprintf(path, sizeof path, "%s/n%ld", dir, i);
    double t0 = now();
    if (symlink("x", path) != 0) return 1;
    if (threaded) while (atomic_load(&events_read) <= i) { /* spin */ }
    else read_one();
    double t1 = now();
    printf("%s%.3f", i ? "," : "", t1 - t0);
  }
  printf("]}\n");
  return 0;
}
