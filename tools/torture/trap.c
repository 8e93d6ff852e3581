/*
 * tools/torture/trap.c - a caller that executes a freed block dies loudly.
 *
 * Freed blocks are filled with trap instructions (SIGILL, or SIGTRAP on
 * x86-64); a torn or garbage block may also raise SIGSEGV or SIGBUS.  The
 * handler names the faulting instruction, prints the history of the block
 * that contains it, and ends the process with EXIT_TRAP.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "torture.h"

/* The interrupted program counter: the only per-architecture code of the
 * tool.  (si_addr is not enough: x86-64's INT3 reports no address.) */
static uintptr_t fault_pc(const void *ucontext)
{
    const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#elif defined(__arm__)
    return (uintptr_t)uc->uc_mcontext.arm_pc;
#elif defined(__riscv)
    return (uintptr_t)uc->uc_mcontext.__gregs[0]; /* REG_PC */
#else
    (void)uc;
    return 0;
#endif
}

static int reporting;

static void on_trap(int sig, siginfo_t *info, void *ucontext)
{
    if (__atomic_exchange_n(&reporting, 1, __ATOMIC_ACQ_REL)) {
        for (;;) /* another thread is reporting and will end the process */
            pause();
    }
    uintptr_t pc = fault_pc(ucontext);
    char line[200];
    snprintf(line, sizeof line,
             "cmodx-torture: INVALID: thread %ld got signal %d (%s) at pc %#lx "
             "(fault address %p): executed a freed or corrupt block\n",
             (long)syscall(SYS_gettid), sig, strsignal(sig), (unsigned long)pc, info->si_addr);
    ssize_t unused = write(2, line, strlen(line));
    (void)unused;
    /* x86-64 reports the address after INT3: look one byte back too. */
    history_print(pc > 0 ? pc - (sig == SIGTRAP) : pc);
    _exit(EXIT_TRAP);
}

int trap_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    return 0;
}
