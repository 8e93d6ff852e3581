/*
 * A store that straddles two pages: its first bytes on a data page the
 * checker does not track, its last bytes on the first instruction of the
 * next page, which holds code.  An unaligned 8-byte STR (allowed on Normal
 * memory) puts a new instruction there.  The store is recorded by the page
 * it ends on too: the checker used to look only at the page a store starts
 * on, and took this one for a data store.
 *
 * argv[1]: none (the new instruction runs with no maintenance: the
 *          clean, the invalidate and the ISB are all missing), flush (the
 *          full sequence over the new instruction first), data (a store to
 *          the data page only, the code untouched: nothing to report).
 *
 * RUN: none => not-cleaned
 * RUN: flush => clean
 * RUN: data => clean
 */
#include "common.h"

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "none";
    /* Two pages: the first read-write (data), the second read-write-execute. */
    uint8_t *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two == MAP_FAILED ||
        mprotect(two + 4096, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        return 2;
    }
    uint32_t *code = (uint32_t *)(void *)(two + 4096);
    uint32_t first[2] = { A64_MOV_W0(1), A64_RET };
    emit(code, first, 2);
    sync_words(code, 2);
    fn_t f = as_fn(code);
    int r1 = f();
    /* Bytes 4092..4099: four of data, then a new first instruction. */
    uint64_t v = 0x5a5a5a5aull | (uint64_t)A64_MOV_W0(7) << 32;
    volatile uint64_t *at = (volatile uint64_t *)(void *)(two + (strcmp(mode, "data") == 0 ? 4084 : 4092));
    *at = v;
    if (strcmp(mode, "flush") == 0) {
        sync_words(code, 1);
    }
    int r2 = f();
    printf("straddle_store %s: %d %d\n", mode, r1, r2);
    return r1 == 1 && (r2 == 1 || r2 == 7) ? 0 : 1;
}
