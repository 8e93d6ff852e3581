/*
 * Code written into a memfd mapped executable by the kernel, not by a
 * store instruction (kwrite.h): writev, pwritev, sendfile, splice and
 * copy_file_range into the file, msgrcv and vmsplice (from a pipe's read
 * end) into the read-write view.  The pages change under every mapping,
 * so the executing thread needs the same steps as after a store (ARM ARM
 * B2.2.5); the checker treats each as a store by the calling thread.
 *
 * argv[1]: the system call; argv[2]: "full" to maintain before running.
 *
 * RUN: writev => not-cleaned
 * RUN: pwritev => not-cleaned
 * RUN: sendfile => not-cleaned
 * RUN: splice => not-cleaned
 * RUN: copy_file_range => not-cleaned
 * RUN: msgrcv => not-cleaned
 * RUN: vmsplice => not-cleaned
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
    uint32_t code[] = { A64_MOV_W0(5), A64_RET };
    kw_write(argv[1], fd, d.rw, code, 2);
    if (argc > 2 && strcmp(argv[2], "full") == 0) {
        maintain(&d, KW_AT, sizeof(code), S_ALL);
    }
    return as_fn((const char *)d.rx + KW_AT)() == 5 ? 0 : 1;
}
