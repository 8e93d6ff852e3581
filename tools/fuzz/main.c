/*
 * tools/fuzz/main.c - cmodx-fuzz: options, and the supervisor that runs
 * each episode in a child process and turns a failure, a crash, a death by
 * signal or a hang into a report with the seed and the last calls of every
 * thread (docs/FUZZ.md).
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cmodx-fuzz [--strategy NAME] [--seconds S] [--seed N] [--episode E]\n"
            "                  [--engine scenario|storm|both] [--workers N] [--steps N]\n"
            "                  [--episode-ms MS] [--watchdog S] [--ignore TEXT]\n"
            "                  [--no-side-scenarios] [--no-misuse] [--verbose]\n"
            "  --strategy    one of the library's strategies (default: membarrier):\n"
            "                ");
    for (int s = CMODX_SYNC_AUTO + 1;
         strcmp(cmodx_strategy_name((enum cmodx_strategy)s), "unknown") != 0; s++)
        fprintf(f, "%s%s", s > CMODX_SYNC_AUTO + 1 ? ", " : "",
                cmodx_strategy_name((enum cmodx_strategy)s));
    fprintf(f, "\n"
            "  --seconds     run time; episodes run until it is used up (default 3)\n"
            "  --seed        the run's seed (default: from the clock; always printed)\n"
            "  --episode     run only episode E of the seed (reproduce a failure)\n"
            "  --engine      scenario (one thread, exact model), storm (threads), both (default)\n"
            "  --workers     storm worker threads (default 3, at most 8)\n"
            "  --steps       calls per scenario (default 300)\n"
            "  --episode-ms  storm episode length (default 400)\n"
            "  --watchdog    seconds a call may take before it counts as hung (default 60)\n"
            "  --ignore      'a|b': a failure whose message contains a or b ends its episode\n"
            "                quietly (to look for other failures while one is known)\n"
            "  --no-side-scenarios  storm workers do not run scenarios of their own\n"
            "  --no-misuse   scenarios make only calls the API allows (no bad arguments,\n"
            "                no second retire, no bad configurations)\n"
            "  --verbose     echo every call to stderr\n"
            "exit status: 0 passed, 1 a failure (report on stdout), 2 usage, 77 strategy\n"
            "unavailable on this system\n");
}

static void print_traces(void)
{
    printf("  last calls of each thread, oldest first ('...' = still inside):\n");
    for (int i = 0; i < FZ_MAX_TRACE; i++) {
        struct fz_thread_trace *t = &fz_sh->th[i];
        if (!t->next)
            continue;
        const char *role = i == 0 ? "coordinator" : i <= 8 ? "worker" : i <= 16 ? "fork child"
                                                                                  : "victim/pin";
        printf("    trace #%d (%s, tid %d):\n", i, role, t->tid);
        uint32_t n = t->next, first = n > FZ_RING ? n - FZ_RING : 0;
        for (uint32_t k = first; k < n; k++)
            printf("      %s%s\n", t->ring[k % FZ_RING],
                   k + 1 == n && t->call_start_ns ? " ..." : "");
    }
}

static int matches_ignore(const char *line, const char *ignore)
{
    for (const char *p = ignore; *p;) {
        size_t n = strcspn(p, "|");
        char pat[256];
        snprintf(pat, sizeof pat, "%.*s", (int)(n < 255 ? n : 255), p);
        if (n && strstr(line, pat))
            return 1;
        p += n + (p[n] == '|');
    }
    return 0;
}

static const char *engine_name(int e)
{
    return e ? "storm" : "scenario";
}

int main(int argc, char **argv)
{
    struct fz_options o = {.strategy = CMODX_SYNC_MEMBARRIER, .workers = 3, .steps = 300,
                           .episode_ms = 400};
    double seconds = 3;
    uint64_t seed = 0;
    int have_seed = 0, only_episode = -1, engine = 2;
    unsigned watchdog = 60;
    const char *ignore = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) {
            fz_verbose = 1;
            continue;
        }
        if (!strcmp(a, "--no-misuse")) {
            fz_no_misuse = 1;
            continue;
        }
        if (!strcmp(a, "--no-side-scenarios")) {
            o.no_side = 1;
            continue;
        }
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--strategy")) {
            int s = cmodx_strategy_parse(v);
            if (s <= 0) {
                fprintf(stderr, "cmodx-fuzz: unknown strategy '%s'\n", v);
                return 2;
            }
            o.strategy = (enum cmodx_strategy)s;
        } else if (!strcmp(a, "--seconds")) {
            seconds = atof(v);
        } else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, NULL, 0);
            have_seed = 1;
        } else if (!strcmp(a, "--episode")) {
            only_episode = atoi(v);
        } else if (!strcmp(a, "--engine")) {
            engine = !strcmp(v, "scenario") ? 0 : !strcmp(v, "storm") ? 1 : 2;
        } else if (!strcmp(a, "--workers")) {
            o.workers = (unsigned)atoi(v);
            if (o.workers < 1 || o.workers > 8) {
                fprintf(stderr, "cmodx-fuzz: --workers must be 1 to 8\n");
                return 2;
            }
        } else if (!strcmp(a, "--steps")) {
            o.steps = (unsigned)atoi(v);
        } else if (!strcmp(a, "--episode-ms")) {
            o.episode_ms = (unsigned)atoi(v);
        } else if (!strcmp(a, "--ignore")) {
            ignore = v;
        } else if (!strcmp(a, "--watchdog")) {
            watchdog = (unsigned)atoi(v);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!have_seed)
        seed = fz_mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *sname = cmodx_strategy_name(o.strategy);
    printf("cmodx-fuzz: seed %llu, strategy %s, %s, %.1f s, %u workers (reproduce: cmodx-fuzz "
           "--strategy %s --seed %llu)\n",
           (unsigned long long)seed, sname, cmodx_arch_name(), seconds, o.workers, sname,
           (unsigned long long)seed);
    fz_sh = mmap(NULL, sizeof *fz_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (fz_sh == MAP_FAILED) {
        perror("cmodx-fuzz: mmap");
        return 1;
    }
    /* The supervisor never calls the library itself (its fork handlers
     * would then run at every episode's fork): the probe runs in a child. */
    fflush(stdout);
    pid_t probe = fork();
    if (probe == 0) {
        int err = fz_strategy_probe(o.strategy);
        snprintf(fz_sh->failure, sizeof fz_sh->failure, "%s", cmodx_last_error());
        _exit(err & 0xff);
    }
    int pst = 0;
    waitpid(probe, &pst, 0);
    int avail = WIFEXITED(pst) ? WEXITSTATUS(pst) : -1;
    if (avail) {
        printf("cmodx-fuzz: strategy %s is not available here (%s: %s); nothing to fuzz\n",
               sname, avail > 0 ? strerror(avail) : "the probe crashed", fz_sh->failure);
        return avail > 0 ? 77 : 1;
    }
    uint64_t t0 = fz_now_ns(), budget = (uint64_t)(seconds * 1e9);
    unsigned done[2] = {0, 0}, ignored = 0;
    for (unsigned ep = only_episode >= 0 ? (unsigned)only_episode : 0;; ep++) {
        if (only_episode >= 0 ? ep != (unsigned)only_episode
                              : ep > 0 && fz_now_ns() - t0 >= budget)
            break;
        int eng = engine == 2 ? (int)(ep & 1) : engine;
        uint64_t epseed = fz_mix(seed ^ fz_mix(ep + 1));
        memset(fz_sh, 0, sizeof *fz_sh);
        fz_sh->seed = seed;
        fz_sh->episode = ep;
        fz_sh->strategy = o.strategy;
        snprintf(fz_sh->ignore, sizeof fz_sh->ignore, "%s", ignore);
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("cmodx-fuzz: fork");
            return 1;
        }
        if (pid == 0) {
            setpgid(0, 0);
            fz_me = 0;
            fz_install_fault_handlers();
            if (eng == 0) {
                struct fz_rng r = {.s = epseed};
                /* Mostly the strategy under test; now and then another
                 * one, so that every strategy meets every other's domain. */
                enum cmodx_strategy s = o.strategy;
                fz_scenario(&r, s, o.steps, 1);
            } else {
                fz_storm(epseed, &o);
            }
            _exit(0);
        }
        setpgid(pid, pid);
        int status = 0, hung = -1;
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                break;
            uint64_t now = fz_now_ns();
            for (int i = 0; i < FZ_MAX_TRACE && hung < 0; i++) {
                uint64_t st = __atomic_load_n(&fz_sh->th[i].call_start_ns, __ATOMIC_ACQUIRE);
                if (st && now > st && now - st > (uint64_t)watchdog * 1000000000u)
                    hung = i;
            }
            if (hung >= 0) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                break;
            }
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* Fork children of the episode that outlived it. */
        kill(-pid, SIGKILL);
        int ok = hung < 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !fz_sh->failed;
        /* --ignore also covers hangs and deaths inside a matching call. */
        for (int i = 0; !ok && !fz_sh->failed && i < FZ_MAX_TRACE; i++) {
            struct fz_thread_trace *t = &fz_sh->th[i];
            if (!t->call_start_ns || !t->next)
                continue;
            if (matches_ignore(t->ring[(t->next - 1) % FZ_RING], ignore)) {
                ok = 1;
                fz_sh->ignored = 1;
            }
        }
        if (ok && fz_sh->ignored)
            ignored++;
        if (ok) {
            done[eng]++;
            continue;
        }
        printf("cmodx-fuzz: FAIL (seed %llu, strategy %s, episode %u, engine %s, %s)\n",
               (unsigned long long)seed, sname, ep, engine_name(eng), cmodx_arch_name());
        if (hung >= 0) {
            struct fz_thread_trace *t = &fz_sh->th[hung];
            printf("  [kind 1/2: lock discipline or cancellation] a call did not return: trace "
                   "#%d (tid %d) has been inside \"%s\" for more than %u s (watchdog); the "
                   "episode was killed\n",
                   hung, t->tid, t->next ? t->ring[(t->next - 1) % FZ_RING] : "?", watchdog);
        } else if (fz_sh->failed) {
            printf("  %s\n", fz_sh->failure);
            if (WIFSIGNALED(status))
                printf("  (the episode process then died of signal %d, %s)\n", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
        } else if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            if (sig == fz_sync_signal())
                printf("  [kind 5: signal strategy] the episode process was killed by signal %d, "
                       "the signal strategy's sync signal, after its domain was destroyed: a "
                       "signal left pending by a timed-out publish%s%s\n",
                       sig, fz_sh->note[0] ? "; last: " : "", fz_sh->note);
            else
                printf("  [kind ?] the episode process died of signal %d (%s) with no failure "
                       "recorded%s%s\n",
                       sig, strsignal(sig), fz_sh->note[0] ? "; last: " : "", fz_sh->note);
        } else {
            printf("  [kind ?] the episode process exited with status %d and no failure of the "
                   "model: a sanitizer report (on stderr, above) ended it\n",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        uint64_t now = fz_now_ns();
        for (int i = 0; i < FZ_MAX_TRACE; i++) {
            struct fz_thread_trace *t = &fz_sh->th[i];
            if (t->call_start_ns && t->next && i != hung)
                printf("  trace #%d was inside (for %.1f s): %s\n", i,
                       (double)(now - t->call_start_ns) / 1e9, t->ring[(t->next - 1) % FZ_RING]);
        }
        print_traces();
        printf("  reproduce: cmodx-fuzz --strategy %s --seed %llu --episode %u --engine %s",
               sname, (unsigned long long)seed, ep, engine_name(eng));
        if (eng == 0 && o.steps != 300)
            printf(" --steps %u", o.steps);
        if (eng == 1 && o.workers != 3)
            printf(" --workers %u", o.workers);
        if (eng == 1 && o.episode_ms != 400)
            printf(" --episode-ms %u", o.episode_ms);
        if (eng == 1 && o.no_side)
            printf(" --no-side-scenarios");
        if (fz_no_misuse)
            printf(" --no-misuse");
        printf("\n");
        return 1;
    }
    printf("cmodx-fuzz: passed: %u scenario and %u storm episodes, strategy %s, seed %llu",
           done[0], done[1], sname, (unsigned long long)seed);
    if (ignored)
        printf(" (%u stopped early at a failure given to --ignore)", ignored);
    printf("\n");
    return 0;
}
