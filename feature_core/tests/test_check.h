/*
 * test_check.h — the checks the feature core's C unit tests share (test_api.c, test_drift.c).
 *
 * Plain C11, no framework: every failed check prints "FAIL <test> (<file>:<line>): <what>";
 * test_summary() prints "N passed, N failed" and returns the exit status (non-zero when
 * anything failed). Floats are compared bit for bit. Included once per test program: the
 * counters are that program's own.
 */
#ifndef DWCP_FC_TEST_CHECK_H
#define DWCP_FC_TEST_CHECK_H

#include "bits.h"
#include "feature_core.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int n_pass = 0, n_fail = 0;
static const char *current = ""; /* the test function running, for the FAIL line */

static inline int check_at(int ok, const char *what, const char *file, int line)
{
    if (ok) {
        n_pass++;
    } else {
        n_fail++;
        printf("FAIL %s (%s:%d): %s\n", current, file, line, what);
    }
    return ok;
}
#define check(ok, what, line) check_at((ok), (what), __FILE__, (line))
#define CHECK(cond) check((cond) != 0, #cond, __LINE__)

/* Checks a status and, for an error, the fc_error the call filled in. */
static inline void check_status(fc_status got, const fc_error *err, fc_status want, int64_t index,
                         int32_t channel, int32_t feature, const char *what, int line)
{
    char buf[512];
    int ok = got == want;
    if (ok && want != FC_OK && err != NULL)
        ok = err->status == want && err->index == index && err->channel == channel &&
             err->feature == feature;
    if (ok) {
        n_pass++;
        return;
    }
    if (want != FC_OK && err != NULL)
        snprintf(buf, sizeof buf,
                 "%s: expected %s (index %" PRId64 ", channel %d, feature %d), got %s "
                 "(err %s, index %" PRId64 ", channel %d, feature %d)",
                 what, fc_status_name(want), index, (int)channel, (int)feature,
                 fc_status_name(got), fc_status_name(err->status), err->index,
                 (int)err->channel, (int)err->feature);
    else
        snprintf(buf, sizeof buf, "%s: expected %s, got %s", what, fc_status_name(want),
                 fc_status_name(got));
    check(0, buf, line);
}
#define CHECK_OK(call) check_status((call), NULL, FC_OK, -1, -1, -1, #call, __LINE__)

static inline void check_double(double got, double want, const char *what, int line)
{
    char buf[256];
    if (dbits(got) == dbits(want)) {
        n_pass++;
        return;
    }
    snprintf(buf, sizeof buf,
             "%s: expected %.17g (0x%016" PRIx64 "), got %.17g (0x%016" PRIx64 ")", what, want,
             dbits(want), got, dbits(got));
    check(0, buf, line);
}
#define CHECK_DOUBLE(got, want) check_double((got), (want), #got, __LINE__)

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail == 0 ? 0 : 1;
}

#endif /* DWCP_FC_TEST_CHECK_H */
