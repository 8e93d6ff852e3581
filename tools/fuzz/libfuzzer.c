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
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Every strategy of the library: numbered from 1 up to the first
     * unknown name; each probed once (1 available, 0 not, -1 unknown). */
    static int avail[64];
    static unsigned n;
    if (!n) {
        while (n < sizeof avail / sizeof avail[0] &&
               strcmp(cmodx_strategy_name((enum cmodx_strategy)(n + 1)), "unknown") != 0)
            avail[n++] = -1;
    }
    if (size < 3 || !n)
        return 0;
    fz_libfuzzer = 1;
    unsigned k = data[0] % n;
    enum cmodx_strategy s = (enum cmodx_strategy)(k + 1);
    if (avail[k] < 0)
        avail[k] = fz_strategy_probe(s) == 0;
    if (!avail[k])
        return 0;
    struct fz_rng r = {.data = data + 1, .len = size - 1};
    fz_scenario(&r, s, 400, 1);
    return 0;
}
