/*
 * Code written into a memfd mapped executable by the kernel, not by a
 * store instruction (kwrite.h): writev, pwritev, sendfile, splice and
 * copy_file_range into the file, msgrcv and vmsplice (from a pipe's read
 * end) into the read-write view.  The pages change under every mapping,
 * so the executing thread needs the same steps as after a store
 * (ARM ARM A3.5.4: cacheflush, then an ISB on the executing thread);
 * the checker treats each as a store by the calling thread.
 *
 * argv[1]: the system call; argv[2]: "full" to maintain before running.
 *
 * RUN: writev => no-cacheflush
 * RUN: pwritev => no-cacheflush
 * RUN: sendfile => no-cacheflush
 * RUN: splice => no-cacheflush
 * RUN: copy_file_range => no-cacheflush
 * RUN: msgrcv => no-cacheflush
 * RUN: vmsplice => no-cacheflush
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
    uint32_t code[] = { A32_MOV_R0(5), A32_BX_LR };
    kw_write(argv[1], fd, d.rw, code, 2);
    if (argc > 2 && strcmp(argv[2], "full") == 0) {
        cacheflush((const char *)d.rx + KW_AT, (const char *)d.rx + KW_AT + sizeof(code));
        isb();
    }
    return as_fn((const char *)d.rx + KW_AT)() == 5 ? 0 : 1;
}
