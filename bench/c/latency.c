/* The C subjects of bench/latency_bench.ts: ITER times, make a file DIR/n<i> and wait for its
 * IN_CREATE. `latency DIR ITER`: this thread polls and reads. `latency DIR ITER thread`: a reader
 * thread parked in poll() reads, as notiq's does, and this thread spins until it has the event —
 * the floor of that design: the kernel wakes the reader inside the writer's system call.
 * The file is a symlink (one IN_CREATE), or with `write` as the last argument an ordinary write:
 * open(O_CREAT) + write("x") + close, watched for IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE.
 * Prints {"us": [latencies in microseconds, in order]}. */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static int fd;
static atomic_long creates; /* IN_CREATE records read so far */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Blocks in poll() until events are queued, reads them, and counts the IN_CREATE records. */
static void read_some(void) {
  static char buf[64 * 1024] __attribute__((aligned(16)));
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, -1);
    ssize_t len = read(fd, buf, sizeof buf);
    if (len <= 0) continue;
    long n = 0;
    for (char *at = buf; at < buf + len;) {
      const struct inotify_event *ev = (const void *)at;
      if (ev->mask & IN_CREATE) n++;
      at += sizeof *ev + ev->len;
    }
    atomic_fetch_add(&creates, n);
    return;
  }
}

static void *reader(void *unused) {
  for (;;) read_some();
  return unused;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *dir = argv[1];
  long iterations = atol(argv[2]);
  int threaded = 0, writes = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "thread")) threaded = 1;
    else if (!strcmp(argv[i], "write")) writes = 1;
    else return 2;
  }
  char path[4096];
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  uint32_t mask = writes ? IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE : IN_CREATE;
  if (fd < 0 || inotify_add_watch(fd, dir, mask) < 0) { perror("setup"); return 1; }
  pthread_t thread;
  if (threaded && pthread_create(&thread, NULL, reader, NULL) != 0) return 1;
  printf("{\"us\": [");
  for (long i = 0; i < iterations; i++) {
    snprintf(path, sizeof path, "%s/n%ld", dir, i);
    double t0 = now();
    if (writes) {
      int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (f < 0 || write(f, "x", 1) != 1 || close(f) != 0) return 1;
    } else if (symlink("x", path) != 0) return 1;
    if (threaded) while (atomic_load(&creates) <= i) { /* spin */ }
    else while (atomic_load(&creates) <= i) read_some();
    double t1 = now();
    printf("%s%.3f", i ? "," : "", t1 - t0);
  }
  printf("]}\n");
  return 0;
}
