/*
 * cmodx-check — names for guest addresses: ELF symbols of the mapped
 * files, the vDSO, the heap, the stack and anonymous memory (symbols.c).
 */
#ifndef CMODX_SYMBOLS_H
#define CMODX_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One auxiliary-vector entry of the process start (AT_SYSINFO_EHDR...). */
void syms_auxv(uint64_t type, uint64_t val);
/* The initial stack pointer (names the main thread's stack). */
void syms_stack_top(uint64_t sp);
/* A brk result: the first one is the start of the heap, each its end. */
void syms_brk(uint64_t brk);

/* The vDSO's address range, once known (lock-free). */
bool syms_vdso_range(uint64_t *lo, uint64_t *hi);
/* The name of the vDSO symbol whose entry point is va, or NULL. */
const char *syms_vdso_entry(uint64_t va);

/*
 * "function+0xoff (file+0xaddr)" for a guest pc: the symbol from the ELF
 * symbol table of the file mapped there (.symtab, else .dynsym; "file"
 * alone when no symbol covers pc; the address is the ELF virtual address
 * addr2line takes), "[vdso] name+0xoff", "[heap]", "[stack]" or the
 * anonymous mapping's range.  Reads /proc/self/maps: callers make it once
 * per distinct report.  Thread safety: callers hold model_lock.
 */
void syms_describe(uint64_t pc, char *buf, size_t n);

/* True when the host memory behind guest va is an anonymous mapping
 * (no file): memory that started as zeros. */
bool syms_host_anonymous(uint64_t va);

/* Only the function name (or "") for suppression matching, and the
 * file's base name (or the bracketed mapping name). */
void syms_names(uint64_t pc, char *fn, size_t nfn, char *file, size_t nfile);

#endif
