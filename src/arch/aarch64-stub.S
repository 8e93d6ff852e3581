/* Common trampoline stub (AArch64, AAPCS64).  Entered by branch from a
 * per-slot stub with x17 = &{domain, id, common, resync}, arguments live
 * in x0-x8 and q0-q7, x30 = the caller's return address.  Saves them,
 * asks resync (the trampoline strategy's, src/strategy/trampoline.c) for
 * the target (it executes the ISB), restores, and branches there with x30
 * intact. */
    .text
    .globl  cmodx_tramp_common
    .hidden cmodx_tramp_common
    .type   cmodx_tramp_common, %function
    .p2align 2
cmodx_tramp_common:
    .cfi_startproc
    stp     x29, x30, [sp, #-224]!
    .cfi_def_cfa_offset 224
    .cfi_offset x29, -224
    .cfi_offset x30, -216
    mov     x29, sp
    stp     x0, x1, [sp, #16]
    stp     x2, x3, [sp, #32]
    stp     x4, x5, [sp, #48]
    stp     x6, x7, [sp, #64]
    str     x8, [sp, #80]
    stp     q0, q1, [sp, #96]
    stp     q2, q3, [sp, #128]
    stp     q4, q5, [sp, #160]
    stp     q6, q7, [sp, #192]
    mov     x0, x17
    ldr     x16, [x17, #24]         /* resync */
    blr     x16
    mov     x16, x0
    ldp     x0, x1, [sp, #16]
    ldp     x2, x3, [sp, #32]
    ldp     x4, x5, [sp, #48]
    ldp     x6, x7, [sp, #64]
    ldr     x8, [sp, #80]
    ldp     q0, q1, [sp, #96]
    ldp     q2, q3, [sp, #128]
    ldp     q4, q5, [sp, #160]
    ldp     q6, q7, [sp, #192]
    ldp     x29, x30, [sp], #224
    .cfi_def_cfa_offset 0
    br      x16
    .cfi_endproc
    .size   cmodx_tramp_common, .-cmodx_tramp_common
    .section .note.GNU-stack, "", %progbits
