/* Makes events as fast as it can: N symlinks named PREFIX%07d in DIR (one IN_CREATE each, distinct
 * names so the kernel cannot merge them). Prints {"ms": elapsed, "created": n}. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *dir = argv[1];
  long n = atol(argv[2]);
  const char *prefix = argc > 3 ? argv[3] : "f";
  char path[4096];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  long made = 0;
  for (long i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/%s%07ld", dir, prefix, i);
    if (symlink("x", path) == 0) made++;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("{\"ms\": %.3f, \"created\": %ld}\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6, made);
  return 0;
}
