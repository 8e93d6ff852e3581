/* tests/patch_targets.c - the versions test_patch redirects to, built
 * WITHOUT a patchable entry (so they are also "not a patch point"). */
#include "patch_funcs.h"

__attribute__((noinline)) int version_one(int x) { return 1000 + x; }
__attribute__((noinline)) int version_two(int x) { return 2000 + x; }
