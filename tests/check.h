/* tests/check.h - a minimal test harness: CHECK() records and reports a
 * failure with its location and continues; the test's exit status is the
 * number of failures (capped), so ctest sees it. */
#ifndef CMODX_TEST_CHECK_H
#define CMODX_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                     \
            check_failures++;                                                   \
        }                                                                       \
    } while (0)

#define CHECK_EQ(a, b)                                                          \
    do {                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                     \
        if (a_ != b_) {                                                         \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n",\
                    __FILE__, __LINE__, #a, #b, a_, b_);                        \
            check_failures++;                                                   \
        }                                                                       \
    } while (0)

/* Abort the test at once (a precondition for the rest failed). */
#define REQUIRE(cond)                                                           \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                     \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static inline int check_finish(const char *name)
{
    if (check_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    else
        printf("%s: ok\n", name);
    return check_failures > 100 ? 100 : check_failures;
}

#endif
