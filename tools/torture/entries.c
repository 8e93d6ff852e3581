/* tools/torture/entries.c - the functions --patch entries redirects: one
 * per slot, built with a patchable entry (tools/torture/CMakeLists.txt),
 * in their own file so that the compiler cannot fold a call to them.  Each
 * is redirected to its slot's version 0 before any caller starts; its own
 * body is never meant to run (it returns an identity no slot has). */
#include "torture.h"

#define TF(n) __attribute__((noinline)) static uint32_t tf_##n(void) { return 0xffffff00u | n; }
#define TF8(t) TF(t##0) TF(t##1) TF(t##2) TF(t##3) TF(t##4) TF(t##5) TF(t##6) TF(t##7)
#define TF64(t) TF8(t##0) TF8(t##1) TF8(t##2) TF8(t##3) TF8(t##4) TF8(t##5) TF8(t##6) TF8(t##7)
TF64(0) TF64(1) TF64(2) TF64(3)

#define E(n) tf_##n,
#define E8(t) E(t##0) E(t##1) E(t##2) E(t##3) E(t##4) E(t##5) E(t##6) E(t##7)
#define E64(t) E8(t##0) E8(t##1) E8(t##2) E8(t##3) E8(t##4) E8(t##5) E8(t##6) E8(t##7)
uint32_t (*const torture_entries[TORTURE_MAX_SLOTS])(void) = {E64(0) E64(1) E64(2) E64(3)};
