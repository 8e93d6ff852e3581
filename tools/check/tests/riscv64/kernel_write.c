/*
 * Code written into a memfd mapped executable by the kernel, not by a
 * store instruction (kwrite.h): writev, pwritev, sendfile, splice and
 * copy_file_range into the file, msgrcv and vmsplice (from a pipe's read
 * end) into the read-write view.  The pages change under every mapping,
 * so the executing thread needs the same steps as after a store
 * (Zifencei: fence.i on the executing hart, or riscv_flush_icache);
 * the checker treats each as a store by the calling thread.
 *
 * argv[1]: the system call; argv[2]: "full" to maintain before running.
 *
 * RUN: writev => no-fence-i
 * RUN: pwritev => no-fence-i
 * RUN: sendfile => no-fence-i
 * RUN: splice => no-fence-i
 * RUN: copy_file_range => no-fence-i
 * RUN: msgrcv => no-fence-i
 * RUN: vmsplice => no-fence-i
 * RUN: sendfile full => clean
 * RUN: msgrcv full => clean
 */
#include "common.h"
#include "../kwrite.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    int fd;
    struct dual d = kw_map(&fd);
    uint32_t code[] = { RV_LI_A0(5), RV_RET };
    kw_write(argv[1], fd, d.rw, code, 2);
    if (argc > 2 && strcmp(argv[2], "full") == 0) {
        flush_icache((const char *)d.rx + KW_AT, (const char *)d.rx + KW_AT + sizeof(code), 0);
    }
    return as_fn((const char *)d.rx + KW_AT)() == 5 ? 0 : 1;
}
