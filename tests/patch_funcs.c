/* tests/patch_funcs.c - functions for test_patch, built with
 * -fpatchable-function-entry (tests/CMakeLists.txt), in their own
 * translation unit so that the compiler cannot inline or fold calls. */
#include "patch_funcs.h"

#define NOINLINE __attribute__((noinline))

/* The patchable functions: pf_N(x) = x + N. */
#define PF(n) NOINLINE int pf_##n(int x) { return x + n; }
#define PF10(t) PF(t##0) PF(t##1) PF(t##2) PF(t##3) PF(t##4) PF(t##5) PF(t##6) PF(t##7) \
    PF(t##8) PF(t##9)
PF(0) PF(1) PF(2) PF(3) PF(4) PF(5) PF(6) PF(7) PF(8) PF(9)
PF10(1) PF10(2) PF10(3) PF10(4) PF10(5) PF10(6) PF10(7) PF10(8) PF10(9)

#define E(n) pf_##n,
#define E10(t) E(t##0) E(t##1) E(t##2) E(t##3) E(t##4) E(t##5) E(t##6) E(t##7) E(t##8) E(t##9)
int (*const pf_table[PF_COUNT])(int) = {E(0) E(1) E(2) E(3) E(4) E(5) E(6) E(7) E(8) E(9)
                                        E10(1) E10(2) E10(3) E10(4) E10(5) E10(6) E10(7)
                                        E10(8) E10(9)};
