/* The C loop beside bench/parse_bench.ts: walks the same bytes (a file of inotify records, as
 * read() returns them) masks only, then copying each name out (memcpy + NUL, what a C consumer
 * that uses names does), then keeping each (strdup, freed after the walk: what a C consumer that keeps
 * events does). Prints {"masks", "names", "dup": ns per record, "records": n}. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  FILE *f = fopen(argv[1], "rb");
  long rounds = atol(argv[2]);
  static char buf[1 << 20] __attribute__((aligned(16)));
  size_t size = fread(buf, 1, sizeof buf, f);
  fclose(f);
  long records = 0;
  for (size_t at = 0; at < size;) {
    const struct inotify_event *ev = (const void *)(buf + at);
    at += sizeof *ev + ev->len;
    records++;
  }
  volatile uint32_t sink = 0;
  double best_masks = 1e30, best_names = 1e30, best_dup = 1e30;
  static char *kept[1 << 16];
  static char names[256];
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now();
    for (long r = 0; r < rounds; r++) {
      uint32_t masks = 0;
      for (size_t at = 0; at < size;) {
        const struct inotify_event *ev = (const void *)(buf + at);
        masks |= ev->mask;
        at += sizeof *ev + ev->len;
      }
      sink ^= masks;
      __asm__ volatile("" ::: "memory");
    }
    double t1 = now();
    for (long r = 0; r < rounds; r++) {
      size_t total = 0;
      for (size_t at = 0; at < size;) {
        const struct inotify_event *ev = (const void *)(buf + at);
        size_t n = ev->len ? strlen(ev->name) : 0;
        memcpy(names, ev->name, n);
        names[n] = 0;
        total += n;
        __asm__ volatile("" ::: "memory");
        at += sizeof *ev + ev->len;
      }
      sink ^= total;
    }
    double t2 = now();
    long dup_rounds = rounds / 10 + 1;
    for (long r = 0; r < dup_rounds; r++) {
      long k = 0;
      for (size_t at = 0; at < size;) {
        const struct inotify_event *ev = (const void *)(buf + at);
        kept[k++] = strdup(ev->len ? ev->name : "");
        at += sizeof *ev + ev->len;
      }
      for (long i = 0; i < k; i++) free(kept[i]);
    }
    double t3 = now();
    double d = (t3 - t2) / (dup_rounds * records);
    if (d < best_dup) best_dup = d;
    double m = (t1 - t0) / (rounds * records), n = (t2 - t1) / (rounds * records);
    if (m < best_masks) best_masks = m;
    if (n < best_names) best_names = n;
  }
  printf("{\"masks\": %.4f, \"names\": %.4f, \"dup\": %.4f, \"records\": %ld, \"sink\": %u}\n", best_masks, best_names, best_dup, records, sink);
  return 0;
}
