/* The C subject of bench/fresh_bench.ts and bench/idle_bench.ts.
 * `watch_tree ROOT setup PROBE_DIR [LATER_MS]`: walk ROOT (directories only, no symlinks followed)
 * adding an inotify watch per directory, then write PROBE_DIR/f0000000 ("x") and read until its
 * IN_CREATE; prints the ms until watching and until that first event (from before inotify_init1),
 * the watch count and the RSS growth at the first event and LATER_MS after it, as
 * bench/measure.js's setup workload does.
 * `watch_tree ROOT idle SECONDS`: the walk, then wait in poll() and print the CPU seconds spent
 * while idle. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int fd;
static long watches;

static int add(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb; (void)ftw;
  if (type == FTW_D && inotify_add_watch(fd, path, IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVE | IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR) >= 0) watches++;
  return 0;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f)) if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
  fclose(f);
  return kib;
}

static double since(const struct timespec *a) {
  struct timespec b;
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (b.tv_sec - a->tv_sec) * 1e3 + (b.tv_nsec - a->tv_nsec) / 1e6;
}

/* Writes DIR/f0000000 and reads until its IN_CREATE arrives; removes it after. */
static int probe(const char *dir) {
  char path[4096], name[] = "f0000000";
  static char buf[64 * 1024] __attribute__((aligned(16)));
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f < 0 || write(f, "x", 1) != 1 || close(f) != 0) return -1;
  for (int found = 0; !found;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return -1;
    ssize_t len = read(fd, buf, sizeof buf);
    for (char *at = buf; len > 0 && at < buf + len;) {
      const struct inotify_event *ev = (const void *)at;
      if ((ev->mask & IN_CREATE) && ev->len && !strcmp(ev->name, name)) found = 1;
      at += sizeof *ev + ev->len;
    }
  }
  return 0;
}

static double cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (argc < 4) return 2;
  long rss0 = rss_kib();
  struct timespec a;
  clock_gettime(CLOCK_MONOTONIC, &a);
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  nftw(argv[1], add, 64, FTW_PHYS);
  double watching = since(&a);
  if (!strcmp(argv[2], "idle")) {
    double c0 = cpu();
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, (int)(atof(argv[3]) * 1000));
    printf("{\"cpu\": %.4f, \"watches\": %ld}\n", cpu() - c0, watches);
    return 0;
  }
  if (probe(argv[3]) != 0) { perror("probe"); return 1; }
  double first = since(&a);
  long rss = rss_kib() - rss0;
  if (argc > 4) usleep(atol(argv[4]) * 1000);
  long later = rss_kib() - rss0;
  char path[4096];
  snprintf(path, sizeof path, "%s/f0000000", argv[3]);
  unlink(path);
  printf("{\"watchingMs\": %.3f, \"firstEventMs\": %.3f, \"probes\": 1, \"watches\": %ld, \"rssKiB\": %ld, "
         "\"rssLaterKiB\": %ld}\n", watching, first, watches, rss, later);
  return 0;
}
