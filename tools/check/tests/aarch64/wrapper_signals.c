/*
 * Not the model: the cmodx-check wrapper.  It runs qemu as an asynchronous
 * command of its shell, which (with no job control) starts with SIGINT and
 * SIGQUIT ignored; the wrapper gives the program the default dispositions
 * back, so that it sees these signals as it would outside the checker (a
 * ^C stops it).  Exit status 1 when either is ignored.
 *
 * RUN: => clean
 */
#include <signal.h>
#include <stddef.h>

int main(void)
{
    const int sigs[] = { SIGINT, SIGQUIT };
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
        struct sigaction sa;
        if (sigaction(sigs[k], NULL, &sa) != 0 || sa.sa_handler == SIG_IGN) {
            return 1;
        }
    }
    return 0;
}
