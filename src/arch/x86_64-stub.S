/* Common trampoline stub (x86-64, SysV).  Entered by jump from a per-slot
 * stub with r11 = &{domain, id, common, resync}, with the caller's
 * arguments live and the return address on the stack.  Saves every
 * argument register (and rax, the vector count of variadic calls), asks
 * resync (the trampoline strategy's, src/strategy/trampoline.c) for the
 * target (it synchronises this thread), restores, and jumps there. */
    .text
    .globl  cmodx_tramp_common
    .hidden cmodx_tramp_common
    .type   cmodx_tramp_common, @function
cmodx_tramp_common:
    .cfi_startproc
    pushq   %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq    %rsp, %rbp
    .cfi_def_cfa_register %rbp
    subq    $192, %rsp              /* keeps the 16-byte call alignment */
    movq    %rdi, 0(%rsp)
    movq    %rsi, 8(%rsp)
    movq    %rdx, 16(%rsp)
    movq    %rcx, 24(%rsp)
    movq    %r8, 32(%rsp)
    movq    %r9, 40(%rsp)
    movq    %rax, 48(%rsp)
    movq    %r10, 56(%rsp)
    movdqu  %xmm0, 64(%rsp)
    movdqu  %xmm1, 80(%rsp)
    movdqu  %xmm2, 96(%rsp)
    movdqu  %xmm3, 112(%rsp)
    movdqu  %xmm4, 128(%rsp)
    movdqu  %xmm5, 144(%rsp)
    movdqu  %xmm6, 160(%rsp)
    movdqu  %xmm7, 176(%rsp)
    movq    %r11, %rdi
    call    *24(%r11)               /* resync(&literals) */
    movq    %rax, %r11
    movq    0(%rsp), %rdi
    movq    8(%rsp), %rsi
    movq    16(%rsp), %rdx
    movq    24(%rsp), %rcx
    movq    32(%rsp), %r8
    movq    40(%rsp), %r9
    movq    48(%rsp), %rax
    movq    56(%rsp), %r10
    movdqu  64(%rsp), %xmm0
    movdqu  80(%rsp), %xmm1
    movdqu  96(%rsp), %xmm2
    movdqu  112(%rsp), %xmm3
    movdqu  128(%rsp), %xmm4
    movdqu  144(%rsp), %xmm5
    movdqu  160(%rsp), %xmm6
    movdqu  176(%rsp), %xmm7
    movq    %rbp, %rsp
    popq    %rbp
    .cfi_def_cfa %rsp, 8
    jmp     *%r11
    .cfi_endproc
    .size   cmodx_tramp_common, .-cmodx_tramp_common
    .section .note.GNU-stack, "", @progbits

/* void cmodx_x86_iret_to_self(void)
 * IRET is architecturally serialising (SDM 8.3; APM 7.6.4) and, unlike
 * CPUID, does not exit to a hypervisor.  Build an interrupt frame for the
 * current context (SS, RSP, RFLAGS, CS, RIP = the instruction after) and
 * return to it, as Linux's sync_core() does.  A called function, so no
 * caller data lives in the red zone below our frame. */
    .text
    .globl  cmodx_x86_iret_to_self
    .hidden cmodx_x86_iret_to_self
    .type   cmodx_x86_iret_to_self, @function
cmodx_x86_iret_to_self:
    .cfi_startproc
    movq    %rsp, %rax
    movl    %ss, %ecx
    pushq   %rcx                    /* SS */
    pushq   %rax                    /* RSP as it was on entry */
    pushfq                          /* RFLAGS */
    movl    %cs, %ecx
    pushq   %rcx                    /* CS */
    leaq    1f(%rip), %rcx
    pushq   %rcx                    /* RIP */
    iretq
1:
    ret
    .cfi_endproc
    .size   cmodx_x86_iret_to_self, .-cmodx_x86_iret_to_self
    .section .note.GNU-stack, "", @progbits
