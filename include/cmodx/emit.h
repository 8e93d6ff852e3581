/*
 * cmodx/emit.h - the few instruction encodings cmodx itself needs, exposed
 * for tests, examples and tools: a function that returns a constant, and
 * the trap fill.  A JIT brings its own assembler; these exist so that a
 * program can build a small, checkable function on any supported
 * architecture without one.
 */
#ifndef CMODX_EMIT_H
#define CMODX_EMIT_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#include "heap.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * NAME
 *   cmodx_emit_return_u32 - encode "return VALUE;"
 * SYNOPSIS
 *   size_t cmodx_emit_return_u32(cmodx_wptr dst, size_t cap, uint32_t value);
 * DESCRIPTION
 *   Writes the machine code of a function with the C type
 *   uint32_t (*)(void) that returns VALUE, at DST (a write-view address).
 *   DST must be aligned to cmodx_insn_align().  Call cmodx_make_visible() on
 *   the execute view before running it.
 * RETURN VALUE
 *   The number of bytes written, or 0 if CAP is too small (nothing written).
 *   cmodx_emit_return_u32_size() tells the size in advance.
 * THREAD SAFETY
 *   Thread-safe; the caller owns the bytes at DST.
 *   Never wait.
 */
CMODX_API size_t cmodx_emit_return_u32(cmodx_wptr dst, size_t cap, uint32_t value);

/*
 * NAME
 *   cmodx_emit_return_u32_size - bytes of the code cmodx_emit_return_u32 writes
 * DESCRIPTION
 *   The size, in bytes, of the function cmodx_emit_return_u32() encodes on
 *   the architecture the library was built for (the same for every VALUE):
 *   6 on x86-64, 12 on AArch64, ARMv7 and RISC-V 64.  A CAP of at least
 *   this many bytes never makes cmodx_emit_return_u32() fail for size.
 * RETURN VALUE
 *   The size in bytes; never 0.  Never fails.
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (a constant).
 *   Never waits.
 */
CMODX_API size_t cmodx_emit_return_u32_size(void);

/*
 * NAME
 *   cmodx_emit_trap_fill - fill a range with trap instructions
 * DESCRIPTION
 *   Fills [DST, DST+LEN) with the architecture's trap instruction (x86-64
 *   INT3 -> SIGTRAP; AArch64 UDF, ARM UDF, RISC-V an all-zero illegal
 *   instruction -> SIGILL).  LEN is rounded down to whole instructions.
 * THREAD SAFETY
 *   Thread-safe; the caller owns the bytes at DST.
 *   Never wait.
 */
CMODX_API void cmodx_emit_trap_fill(cmodx_wptr dst, size_t len);

/*
 * NAME
 *   cmodx_insn_align - required alignment of an instruction
 * DESCRIPTION
 *   The alignment, in bytes, that an instruction's address must have on
 *   the architecture the library was built for: 1 on x86-64, 4 on
 *   AArch64, ARMv7 (A32) and RISC-V 64 (the code cmodx emits and patches
 *   is uncompressed).  cmodx_emit_return_u32() refuses a DST that is not
 *   aligned to it.
 * RETURN VALUE
 *   1 or 4.  Never fails.
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (a constant).
 *   Never waits.
 */
CMODX_API size_t cmodx_insn_align(void);

/*
 * NAME
 *   cmodx_arch_name - the architecture the library was built for
 * DESCRIPTION
 *   The name of the architecture whose code the library emits, maintains
 *   and patches: "x86_64", "aarch64", "arm" (ARMv7, A32) or "riscv64".
 * RETURN VALUE
 *   A static, NUL-terminated string, never NULL; not to be freed.  Never
 *   fails.
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (a constant).
 *   Never waits.
 */
CMODX_API const char *cmodx_arch_name(void);

/*
 * NAME
 *   cmodx_cache_line_max - the largest cache line of this core
 * DESCRIPTION
 *   The largest cache line size (data or instruction) this core reports,
 *   in bytes: the minimum alignment of every heap block, so that no two
 *   blocks share a line that maintenance operates on.  Read afresh on each
 *   call (cores of one system may differ): AArch64 from CTR_EL0 (the data
 *   and instruction minimum lines, and CWG when reported); x86-64 from
 *   CPUID leaf 1 (the CLFLUSH line size; 64 if not reported); ARMv7 and
 *   RISC-V 64, which do not report it to user space, 64.
 * RETURN VALUE
 *   The size in bytes; never 0.  Never fails.
 * THREAD SAFETY
 *   Thread-safe and async-signal-safe (reads a register or executes
 *   CPUID; no memory of the library is touched).
 *   Never waits.
 */
CMODX_API size_t cmodx_cache_line_max(void);

#ifdef __cplusplus
}
#endif
#endif
