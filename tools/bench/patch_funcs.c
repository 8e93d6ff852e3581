/* tools/bench/patch_funcs.c - the functions section 6 redirects, built
 * with a patchable entry (tools/bench/CMakeLists.txt), and the version it
 * redirects to, in their own file so the compiler cannot fold the calls. */
#include <stdint.h>

uint32_t bench_patchable(void);
uint32_t bench_patchable_twin(void);
uint32_t bench_version(void);

__attribute__((noinline)) uint32_t bench_patchable(void)
{
    __asm__ volatile("");
    return 7;
}

/* The same, never redirected: the direct call's reference. */
__attribute__((noinline)) uint32_t bench_patchable_twin(void)
{
    __asm__ volatile("");
    return 7;
}
