/* The C floor beside bench/snapshot_bench.ts: a bare walk of a tree, open + getdents64 per
 * directory and statx(dirfd, name, AT_SYMLINK_NOFOLLOW) per entry (what notiq's FsCalls.scan does,
 * the fields a snapshot records), directories recursed into with openat. Nothing is kept.
 * `walk ROOT RUNS`: prints {"first": ms, "median": ms, "entries": n} (first: this process's first walk). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct linux_dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static long entries;
static unsigned long long sink; /* keeps the compiler from dropping the fields */

static void walk(int dirfd) {
  char buf[32768];
  long n;
  while ((n = syscall(SYS_getdents64, dirfd, buf, sizeof buf)) > 0) {
    for (long at = 0; at < n;) {
      struct linux_dirent64 *d = (void *)(buf + at);
      at += d->d_reclen;
      const char *s = d->d_name;
      if (s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2]))) continue;
      struct statx st;
      if (statx(dirfd, s, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME, &st)) continue;
      entries++;
      sink += st.stx_ino + st.stx_size + st.stx_mtime.tv_sec + st.stx_mtime.tv_nsec + st.stx_dev_minor;
      if (S_ISDIR(st.stx_mode)) {
        int fd = openat(dirfd, s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
          walk(fd);
          close(fd);
        }
      }
    }
  }
}

static double walk_ms(const char *root) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  entries = 0;
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) exit(1);
  walk(fd);
  close(fd);
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int runs = atoi(argv[2]);
  double *ms = calloc(runs, sizeof *ms);
  double first = walk_ms(argv[1]);
  for (int i = 0; i < runs; i++) ms[i] = walk_ms(argv[1]);
  qsort(ms, runs, sizeof *ms, cmp);
  double median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
  printf("{\"first\": %.3f, \"median\": %.3f, \"entries\": %ld, \"sink\": %llu}\n", first, median, entries, sink % 10);
  return 0;
}
