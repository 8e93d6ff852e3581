/*
 * tools/fuzz/libfuzzer.c - libFuzzer entry point: one scenario (scenario.c)
 * per input, single-threaded apart from the scenario's own pin thread.  The
 * first byte chooses the strategy, the rest drive every decision of the
 * sequence (two bytes each), so libFuzzer's mutations explore call
 * sequences.  A failed check prints its report and aborts, which libFuzzer
 * records as a crash with the input that reproduces it.
 */
#include "fuzz.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum cmodx_strategy all[] = {CMODX_SYNC_MEMBARRIER, CMODX_SYNC_SIGNAL,
                                              CMODX_SYNC_EPOCH, CMODX_SYNC_TRAMPOLINE,
                                              CMODX_SYNC_MPROTECT};
    static int avail[5] = {-1, -1, -1, -1, -1};
    if (size < 3)
        return 0;
    fz_libfuzzer = 1;
    unsigned k = data[0] % 5;
    if (avail[k] < 0)
        avail[k] = fz_strategy_probe(all[k]) == 0;
    if (!avail[k])
        return 0;
    struct fz_rng r = {.data = data + 1, .len = size - 1};
    fz_scenario(&r, all[k], 400, 1);
    return 0;
}
