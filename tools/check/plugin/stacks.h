/*
 * cmodx-check — call stacks for reports (stacks.c).
 */
#ifndef CMODX_STACKS_H
#define CMODX_STACKS_H

#include <stdint.h>

#include "cmodx_check.h"

#define STACK_DEPTH 12

struct stack {
    unsigned n;
    uint64_t pc[STACK_DEPTH];   /* pc[0] is the instruction itself */
};

/*
 * The current thread's call stack at pc, from the guest registers: on
 * AArch64 the link register and the frame records (x29 chain, AAPCS64
 * "The Frame Pointer"), which Debian's arm64 code keeps; on ARM and RISC-V
 * (no frame pointer by default) only the link register.  Valid in a
 * callback at the start of a translation block or one registered with
 * QEMU_PLUGIN_CB_R_REGS; elsewhere the registers may lag (approximate).
 */
void stacks_capture(uint64_t pc, struct stack *s);

/*
 * A store at pc into a page that holds code: remembers the stack of the
 * first such store at each pc (for the report's "written" stack).  Caller
 * holds model_lock.
 */
void stacks_note_store(uint64_t pc);
/* The stack remembered for store pc, or NULL. */
const struct stack *stacks_of_store(uint64_t pc);

#endif
