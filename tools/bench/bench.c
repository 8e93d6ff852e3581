/*
 * tools/bench/bench.c - cmodx-bench: every cost measured against its floor
 * and its peers, in the same run.  See --help and docs/BENCHMARKS.md.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_opts opt = {.sections = 0x3f, .scale = 1.0};
int ratios_printed;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cmodx-bench [options]\n"
            "Measures cmodx's costs next to their references, in one run:\n"
            "  1 call path (direct call, slot, epoch check, trampoline)\n"
            "  2 publish latency per strategy with 1, 2, 4, 8 callers, next to raw\n"
            "    membarrier SYNC_CORE and the naive sleep-one-time-slice approach\n"
            "  3 batch throughput for batch sizes 1 .. 10,000\n"
            "  4 grace periods and quiescent-state cost, next to liburcu QSBR and memb\n"
            "  5 scale: a million slots, 100,000 live blocks, remap-before-reuse\n"
            "  6 patching in place: a redirected call next to a direct one; single\n"
            "    and batched instruction patches and entry redirections next to a\n"
            "    slot publish\n"
            "options:\n"
            "  --quick            tiny sizes, a few seconds (the test suite's run)\n"
            "  --sections LIST    only these sections, e.g. 1,4 (default: all)\n"
            "  --scale F          multiply repetitions and time budgets by F\n"
            "  --markdown FILE    also write the tables as markdown to FILE\n"
            "  --data DIR         also write gnuplot data files (*.dat) into DIR\n"
            "  --emulated         say that the figures are not performance\n"
            "  -h, --help         this text\n"
            "A benchmark is not a test: it never fails because of a figure.\n");
}

static unsigned parse_sections(const char *s)
{
    unsigned m = 0;
    for (const char *p = s; *p; p++)
        if (*p >= '1' && *p <= '6')
            m |= 1u << (*p - '1');
        else if (*p != ',') {
            fprintf(stderr, "cmodx-bench: bad --sections '%s' (digits 1-6, commas)\n", s);
            exit(2);
        }
    return m;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            opt.quick = 1;
        } else if (!strcmp(a, "--emulated")) {
            opt.emulated = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (v && !strcmp(a, "--sections")) {
            opt.sections = parse_sections(v), i++;
        } else if (v && !strcmp(a, "--scale")) {
            opt.scale = atof(v), i++;
            if (opt.scale <= 0)
                opt.scale = 1;
        } else if (v && !strcmp(a, "--markdown")) {
            opt.markdown = v, i++;
        } else if (v && !strcmp(a, "--data")) {
            opt.data_dir = v, i++;
        } else {
            fprintf(stderr, "cmodx-bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
}

/* The CPU's name as /proc/cpuinfo gives it (x86 "model name", ARM "CPU
 * part", RISC-V "uarch"/"isa"), and whether it names an x86 processor. */
static int virtualised; /* the CPU flags say "hypervisor" */

static void cpu_model(char *buf, size_t len, int *is_x86)
{
    snprintf(buf, len, "unknown");
    *is_x86 = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "vendor_id", 9))
            *is_x86 = 1;
        if (!strncmp(line, "flags", 5) && strstr(line, " hypervisor"))
            virtualised = 1;
        const char *keys[] = {"model name", "Model", "uarch", "CPU part", "isa"};
        for (size_t k = 0; !got && k < sizeof keys / sizeof keys[0]; k++)
            if (!strncmp(line, keys[k], strlen(keys[k]))) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 1 + (c[1] == ' ');
                    c[strcspn(c, "\n")] = 0;
                    snprintf(buf, len, "%s", c);
                    got = 1;
                }
            }
    }
    fclose(f);
}

/* qemu-user runs a foreign binary on this host: a non-x86 build that sees
 * an x86 /proc/cpuinfo is emulated; a cross-compiled build most likely. */
static void detect_emulation(int cpu_is_x86)
{
    int x86_build = strcmp(cmodx_arch_name(), "x86_64") == 0;
    if (!x86_build && cpu_is_x86)
        opt.emulated = 1;
#ifdef CMODX_BENCH_CROSS
    opt.emulated = 1;
#endif
}

/* Other processes compete for the cores: say how loaded the machine was. */
static void print_load(const char *when)
{
    char buf[128] = "unknown";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            snprintf(buf, sizeof buf, "unknown");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("load average %s: %s\n", when, buf);
}

static void header(void)
{
    char cpu[256];
    int is_x86;
    cpu_model(cpu, sizeof cpu, &is_x86);
    detect_emulation(is_x86);
    struct utsname u;
    uname(&u);
    char date[64];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("cmodx-bench%s: %s build, %s\n", opt.quick ? " --quick" : "", cmodx_arch_name(),
           date);
    printf("machine: %s, %d online cores, %s %s %s\n", cpu, opt.ncpus, u.sysname, u.release,
           u.machine);
    printf("cpu: %s\ncores: %d\nkernel: %s %s\n", cpu, opt.ncpus, u.sysname, u.release);
    printf("virtual machine: %s\n", virtualised ? "yes (the CPU flags say hypervisor)"
                                                 : "not that the CPU flags say");
#ifdef __clang__
    printf("compiler: clang %s\n", __clang_version__);
#else
    printf("compiler: gcc %s\n", __VERSION__);
#endif
    print_load("at start");
    printf("liburcu comparison: %s\n",
           bench_urcu_available() ? "yes (liburcu-qsbr, liburcu-memb)"
                                  : "NO - cmodx-bench was built without liburcu (not found, or "
                                    "a ThreadSanitizer build)");
    if (opt.emulated)
        printf("*** EMULATED (qemu-user or similar): the figures below are NOT performance "
               "figures and must not be reported as such; this run only shows that the "
               "benchmark works. ***\n");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    opt.ncpus = n > 0 ? (int)n : 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    header();
    void (*const run[6])(void) = {bench_call_path, bench_publish, bench_batch, bench_grace,
                                  bench_scale, bench_patch};
    uint64_t t0 = now_ns();
    for (int i = 0; i < 6; i++)
        if (opt.sections & (1u << i))
            run[i]();
    if (opt.emulated)
        note("EMULATED run: none of these figures is performance.");
    print_load("at end");
    output_close();
    printf("\ncmodx-bench: done in %.1f s%s\n", (double)(now_ns() - t0) / 1e9,
           opt.emulated ? " (emulated: not performance)" : "");
    if ((opt.sections & 1) && ratios_printed == 0) {
        fprintf(stderr, "cmodx-bench: the call-path ratios could not be computed\n");
        return 1;
    }
    return 0;
}
