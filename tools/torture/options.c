/* tools/torture/options.c - the command line of cmodx-torture. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

static const char usage_text[] =
    "usage: cmodx-torture [OPTIONS]\n"
    "\n"
    "Caller threads call through slots while writer threads publish new\n"
    "blocks, retire the old ones and reuse their space as fast as they can.\n"
    "Every block returns its identity (slot, version); callers check it.\n"
    "\n"
    "  --seconds N         run for N seconds (default 10; fractions allowed)\n"
    "  --publishes N       stop after N publishes in all (default 0: no bound)\n"
    "  --callers N         caller threads (default 4)\n"
    "  --writers N         writer threads; each owns every Nth slot (default 1)\n"
    "  --strategy NAME     auto (default) or one of the library's strategies:\n"
    "                      ";
/* After the strategies' names, which the library gives (usage()). */
static const char usage_tail[] =
    "\n"
    "  --slots N           slots, 1..256 (default 8)\n"
    "  --block-sizes A-B   block sizes in bytes, chosen uniformly (default 16-512)\n"
    "  --heap-limit BYTES  code heap limit, suffix K or M allowed (default 256K);\n"
    "                      small limits make blocks recycle constantly\n"
    "  --seed N            random seed (default: from the clock; always printed)\n"
    "  --yield-one-in N    a caller yields while holding a loaded target once in\n"
    "                      N calls, to widen reclamation races (default 64; 0 off)\n"
    "  --offline-every N   a caller goes offline for a moment (a yield) every N\n"
    "                      calls (default 4096; 0 never)\n"
    "  --batch-one-in N    a writer switches several of its slots in one batch\n"
    "                      once in N publishes (default 8; 0 off)\n"
    "  --sync-free-one-in N  once in N steps a writer swaps one of 2 user cells\n"
    "                      (a block pointer of the program's own, outside any\n"
    "                      slot, that callers also call through), calls\n"
    "                      cmodx_synchronize() and frees the old block itself;\n"
    "                      and once in N single publishes it publishes without\n"
    "                      CMODX_RETIRE_OLD and does the same with the old\n"
    "                      block.  Writers' calls overlap and share grace\n"
    "                      periods (default 0: off; each call waits for the\n"
    "                      callers, so 2 makes about 50 times fewer publishes)\n"
    "  --no-writer-calls   writers do not call each new block before publishing\n"
    "  --pace N            after each publish a writer waits (up to 1 s) until\n"
    "                      every caller made N more calls, so that new code is\n"
    "                      run at once, before anything else synchronises the\n"
    "                      callers: for cmodx-check runs (default 0: no wait)\n"
    "  --patch MODE        what a publish is: slots (default); entries: redirect\n"
    "                      a -fpatchable-function-entry function per slot to the\n"
    "                      new block (cmodx_entry_redirect, batches with\n"
    "                      cmodx_entry_redirect_batch); insns: flip the first\n"
    "                      instruction of a block per slot between a NOP and a\n"
    "                      jump (cmodx_patch_insn). Exit 77 where unsupported\n"
    "  --fail-fast         stop at the first invalid observation\n"
    "  --quiet             no per-second progress lines\n"
    "  --help              this text\n"
    "\n"
    "Checks: the slot in a result is the slot called; its version was\n"
    "published for that slot; per caller and slot versions never go\n"
    "backwards; a call started after a publish returned sees that version or\n"
    "a newer one.  Executing a freed (trap-filled) block is caught and\n"
    "reported with the block's history.\n"
    "\n"
    "Exit status: 0 clean; 1 invalid observation or publish error; 2 usage;\n"
    "3 a caller executed a trap (freed block); 4 setup failed; 77 the strategy is\n"
    "refused on this machine (ENOTSUP).\n";

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    uint64_t v;
    if (parse_u64(s, &v) || v < (uint64_t)lo || v > (uint64_t)hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_bytes(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    else if (*end == 'G' || *end == 'g')
        v <<= 30, end++;
    if (*end)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_range(const char *s, size_t *lo, size_t *hi)
{
    char buf[64];
    const char *dash = strchr(s, '-');
    if (!dash || (size_t)(dash - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(dash - s));
    buf[dash - s] = 0;
    if (parse_bytes(buf, lo) || parse_bytes(dash + 1, hi))
        return -1;
    return *lo > 0 && *lo <= *hi ? 0 : -1;
}

static void set_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->seconds = 10;
    o->callers = 4;
    o->writers = 1;
    o->strategy = "auto";
    o->slots = 8;
    o->block_min = 16;
    o->block_max = 512;
    o->heap_limit = 256 << 10;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    o->seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    o->yield_one_in = 64;
    o->offline_every = 4096;
    o->batch_one_in = 8;
    o->sync_free_one_in = 0;
    o->writer_calls = 1;
}

enum { O_SECONDS = 256, O_PUBLISHES, O_CALLERS, O_WRITERS, O_STRATEGY, O_SLOTS, O_SIZES,
       O_LIMIT, O_SEED, O_YIELD, O_OFFLINE, O_BATCH, O_SYNC_FREE, O_NO_WCALLS, O_PACE, O_PATCH, O_FAIL_FAST, O_QUIET, O_HELP };

static const struct option longopts[] = {
    {"seconds", required_argument, 0, O_SECONDS},
    {"publishes", required_argument, 0, O_PUBLISHES},
    {"callers", required_argument, 0, O_CALLERS},
    {"writers", required_argument, 0, O_WRITERS},
    {"strategy", required_argument, 0, O_STRATEGY},
    {"slots", required_argument, 0, O_SLOTS},
    {"block-sizes", required_argument, 0, O_SIZES},
    {"heap-limit", required_argument, 0, O_LIMIT},
    {"seed", required_argument, 0, O_SEED},
    {"yield-one-in", required_argument, 0, O_YIELD},
    {"offline-every", required_argument, 0, O_OFFLINE},
    {"batch-one-in", required_argument, 0, O_BATCH},
    {"sync-free-one-in", required_argument, 0, O_SYNC_FREE},
    {"no-writer-calls", no_argument, 0, O_NO_WCALLS},
    {"pace", required_argument, 0, O_PACE},
    {"patch", required_argument, 0, O_PATCH},
    {"fail-fast", no_argument, 0, O_FAIL_FAST},
    {"quiet", no_argument, 0, O_QUIET},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

static const char *option_name(int c)
{
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

/* One option; returns 0, or -1 with a message printed. */
static int apply(struct options *o, int c, const char *arg)
{
    int bad = 0;
    char *end;
    switch (c) {
    case O_SECONDS:
        o->seconds = strtod(arg, &end);
        bad = end == arg || *end || o->seconds <= 0;
        break;
    case O_PUBLISHES: bad = parse_u64(arg, &o->publishes); break;
    case O_CALLERS: bad = parse_int(arg, 1, TORTURE_MAX_THREADS / 2, &o->callers); break;
    case O_WRITERS: bad = parse_int(arg, 1, TORTURE_MAX_THREADS / 2, &o->writers); break;
    case O_STRATEGY:
        o->strategy = arg;
        bad = cmodx_strategy_parse(arg) < 0;
        break;
    case O_SLOTS: bad = parse_int(arg, 1, TORTURE_MAX_SLOTS, &o->slots); break;
    case O_SIZES: bad = parse_range(arg, &o->block_min, &o->block_max); break;
    case O_LIMIT: bad = parse_bytes(arg, &o->heap_limit) || o->heap_limit == 0; break;
    case O_SEED: bad = parse_u64(arg, &o->seed); break;
    case O_YIELD: bad = parse_int(arg, 0, 1 << 30, &o->yield_one_in); break;
    case O_OFFLINE: bad = parse_int(arg, 0, 1 << 30, &o->offline_every); break;
    case O_BATCH: bad = parse_int(arg, 0, 1 << 30, &o->batch_one_in); break;
    case O_SYNC_FREE: bad = parse_int(arg, 0, 1 << 30, &o->sync_free_one_in); break;
    case O_NO_WCALLS: o->writer_calls = 0; break;
    case O_PACE: bad = parse_int(arg, 0, 1 << 20, &o->pace); break;
    case O_PATCH:
        o->patch = !strcmp(arg, "slots") ? PATCH_NONE : !strcmp(arg, "entries") ? PATCH_ENTRIES
                 : !strcmp(arg, "insns") ? PATCH_INSNS : -1;
        bad = o->patch < 0;
        break;
    case O_FAIL_FAST: o->fail_fast = 1; break;
    case O_QUIET: o->quiet = 1; break;
    default: bad = 1; arg = "?"; break;
    }
    if (bad)
        fprintf(stderr, "cmodx-torture: bad value '%s' for --%s (see --help)\n", arg,
                option_name(c));
    return bad ? -1 : 0;
}

/* The help text, with the library's strategies named: every value from 1
 * up to the first cmodx_strategy_name() that is "unknown". */
static void usage(FILE *f)
{
    fputs(usage_text, f);
    for (int s = CMODX_SYNC_AUTO + 1;
         strcmp(cmodx_strategy_name((enum cmodx_strategy)s), "unknown") != 0; s++)
        fprintf(f, "%s%s", s > CMODX_SYNC_AUTO + 1 ? ", " : "",
                cmodx_strategy_name((enum cmodx_strategy)s));
    fputs(usage_tail, f);
}

/* Returns 0 to run, 1 after --help, -1 on a usage error. */
int options_parse(int argc, char **argv, struct options *o)
{
    set_defaults(o);
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == O_HELP) {
            usage(stdout);
            return 1;
        }
        if (c == '?' || apply(o, c, optarg) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "cmodx-torture: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (o->writers > o->slots) {
        fprintf(stderr, "cmodx-torture: more writers (%d) than slots (%d)\n", o->writers,
                o->slots);
        return -1;
    }
    return 0;
}
