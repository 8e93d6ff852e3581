/* Common trampoline stub (ARMv7 A32, AAPCS-VFP).  Entered from a per-slot
 * stub with r12 = &{domain, id, common, resync}, arguments live in r0-r3
 * and d0-d7, lr = the caller's return address.  Saves them (an even number
 * of words keeps the stack 8-byte aligned), asks resync (the trampoline
 * strategy's, src/strategy/trampoline.c) for the target (it executes the
 * ISB), restores, and branches there (bx interworks). */
    .syntax unified
    .arch   armv7-a
    .fpu    vfpv3-d16
    .arm
    .text
    .globl  cmodx_tramp_common
    .hidden cmodx_tramp_common
    .type   cmodx_tramp_common, %function
    .p2align 2
cmodx_tramp_common:
    push    {r0, r1, r2, r3, r11, lr}
    vpush   {d0-d7}
    mov     r0, r12
    ldr     r12, [r12, #12]         /* resync */
    blx     r12
    mov     r12, r0
    vpop    {d0-d7}
    pop     {r0, r1, r2, r3, r11, lr}
    bx      r12
    .size   cmodx_tramp_common, .-cmodx_tramp_common
    .section .note.GNU-stack, "", %progbits
