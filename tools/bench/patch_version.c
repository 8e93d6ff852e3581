/* tools/bench/patch_version.c - what section 6 redirects to (no patchable
 * entry). */
#include <stdint.h>

uint32_t bench_version(void);

__attribute__((noinline)) uint32_t bench_version(void)
{
    __asm__ volatile("");
    return 7;
}
