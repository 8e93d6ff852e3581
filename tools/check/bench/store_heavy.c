/*
 * Overhead reference for cmodx-check: a program that writes no code but
 * stores a lot (qsort and memset over 8 MiB).  Every store instruction gets
 * the plugin's store callback, which returns at the tracked-page test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    size_t n = 2u << 20;
    uint32_t *v = malloc(n * sizeof(*v));
    uint32_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = s;
    }
    qsort(v, n, sizeof(*v), cmp);
    memset(v, 0, n * sizeof(*v));
    printf("%u\n", v[n / 2]);
    free(v);
    return 0;
}
