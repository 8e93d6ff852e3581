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

/* Bytes that cmodx_emit_return_u32() writes on this architecture. */
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

/* Required alignment of an instruction on this architecture (1 or 4). */
CMODX_API size_t cmodx_insn_align(void);

/* The architecture the library was built for: "x86_64", "aarch64", "arm",
 * "riscv64". */
CMODX_API const char *cmodx_arch_name(void);

/*
 * The largest cache line size (data or instruction) this core reports, in
 * bytes: the minimum alignment of every heap block.  Read afresh on each
 * call (cores of one system may differ).
 */
CMODX_API size_t cmodx_cache_line_max(void);

#ifdef __cplusplus
}
#endif
#endif
