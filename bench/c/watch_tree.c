/* The C subject of bench/idle_bench.ts. `watch_tree ROOT setup`: walk ROOT (directories only, no
 * symlinks followed) adding an inotify watch per directory; prints the time, the watch count and
 * the RSS growth. `watch_tree ROOT idle SECONDS`: the same, then wait in poll() and print the CPU
 * seconds spent while idle. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>

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

static double cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long rss0 = rss_kib();
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  nftw(argv[1], add, 64, FTW_PHYS);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  if (!strcmp(argv[2], "idle")) {
    double c0 = cpu();
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, (int)(atof(argv[3]) * 1000));
    printf("{\"cpu\": %.4f, \"watches\": %ld}\n", cpu() - c0, watches);
  } else {
    printf("{\"ms\": %.3f, \"watches\": %ld, \"rssKiB\": %ld}\n", ms, watches, rss_kib() - rss0);
  }
  return 0;
}
