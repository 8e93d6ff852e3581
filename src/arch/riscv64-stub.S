/* Common trampoline stub (RISC-V LP64D).  Entered from a per-slot stub
 * with t1 = &{domain, id, common, resync}, arguments live in a0-a7 and
 * fa0-fa7, ra = the caller's return address.  Saves them, asks resync (the
 * trampoline strategy's, src/strategy/trampoline.c) for the target (it
 * executes fence.i), restores, and jumps there. */
    .text
    .globl  cmodx_tramp_common
    .hidden cmodx_tramp_common
    .type   cmodx_tramp_common, @function
    .p2align 2
cmodx_tramp_common:
    addi    sp, sp, -144
    sd      ra, 0(sp)
    sd      a0, 8(sp)
    sd      a1, 16(sp)
    sd      a2, 24(sp)
    sd      a3, 32(sp)
    sd      a4, 40(sp)
    sd      a5, 48(sp)
    sd      a6, 56(sp)
    sd      a7, 64(sp)
    fsd     fa0, 72(sp)
    fsd     fa1, 80(sp)
    fsd     fa2, 88(sp)
    fsd     fa3, 96(sp)
    fsd     fa4, 104(sp)
    fsd     fa5, 112(sp)
    fsd     fa6, 120(sp)
    fsd     fa7, 128(sp)
    mv      a0, t1
    ld      t2, 24(t1)              /* resync */
    jalr    ra, 0(t2)
    mv      t2, a0
    ld      ra, 0(sp)
    ld      a0, 8(sp)
    ld      a1, 16(sp)
    ld      a2, 24(sp)
    ld      a3, 32(sp)
    ld      a4, 40(sp)
    ld      a5, 48(sp)
    ld      a6, 56(sp)
    ld      a7, 64(sp)
    fld     fa0, 72(sp)
    fld     fa1, 80(sp)
    fld     fa2, 88(sp)
    fld     fa3, 96(sp)
    fld     fa4, 104(sp)
    fld     fa5, 112(sp)
    fld     fa6, 120(sp)
    fld     fa7, 128(sp)
    addi    sp, sp, 144
    jr      t2
    .size   cmodx_tramp_common, .-cmodx_tramp_common
    .section .note.GNU-stack, "", @progbits
