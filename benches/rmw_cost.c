/* What an atomic read-modify-write costs after ordinary stores, against a relaxed load and
 * store of the same counter (what a counter owned by one thread needs). BENCHMARKS.md cites it:
 * callgrind counts a locked addition as one instruction; the store buffer it drains is not.
 *
 *   gcc -O2 -o rmw benches/rmw_cost.c && ./rmw
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char src[4096], dst[4096];
/* One counter per 64-byte line. */
static uint64_t counters[16 * 8];

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void) {
    const char *names[] = {"a 600-byte copy", "+ 10 atomic fetch_add", "+ 10 relaxed load/store"};
    const int rounds = 5000000;
    for (int mode = 0; mode < 3; mode++) {
        double start = now_ns();
        for (int i = 0; i < rounds; i++) {
            memcpy(dst + (i & 7), src, 600);
            __asm__ volatile("" ::: "memory");
            for (int k = 0; k < 10; k++) {
                uint64_t *c = &counters[k * 8];
                if (mode == 1) {
                    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
                } else if (mode == 2) {
                    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
                }
            }
        }
        printf("%-26s %6.1f ns per iteration\n", names[mode], (now_ns() - start) / rounds);
    }
    return 0;
}
