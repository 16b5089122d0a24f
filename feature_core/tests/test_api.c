/*
 * test_api.c — unit tests of the feature core's public C API (feature_core.h).
 *
 * Plain C11, no framework: every CHECK prints a line on failure; the last line is
 * "N passed, N failed" and the exit status is non-zero when anything failed.
 * Expected values are the documented contract of the header; where a value is a float,
 * it is compared bit for bit.
 */
#include "test_check.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_ERR(call, err, want, idx_, ch_, feat_)                                         \
    do {                                                                                     \
        fc_error *e_ = (err);                                                                \
        if (e_ != NULL) {                                                                    \
            e_->status = FC_OK;                                                              \
            e_->index = 12345;                                                               \
            e_->channel = 12345;                                                             \
            e_->feature = 12345;                                                             \
        }                                                                                    \
        check_status((call), e_, (want), (idx_), (ch_), (feat_), #call, __LINE__);           \
    } while (0)

static void check_float(float got, float want, const char *what, int line)
{
    char buf[256];
    if (fbits(got) == fbits(want)) {
        n_pass++;
        return;
    }
    snprintf(buf, sizeof buf, "%s: expected %.9g (0x%08" PRIx32 "), got %.9g (0x%08" PRIx32 ")",
             what, (double)want, fbits(want), (double)got, fbits(got));
    check(0, buf, line);
}
#define CHECK_FLOAT(got, want) check_float((got), (want), #got, __LINE__)

static int str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);
    if (p == NULL) {
        fprintf(stderr, "test_api: out of memory\n");
        exit(2);
    }
    return p;
}

/* A valid trace on the step grid: ts[i] = t_start + i * step, positive values that differ
 * per sample and channel (exactly representable, so expected features are exact). */
typedef struct trace {
    size_t n, C;
    int64_t *ts;
    double *v;
} trace;

static trace make_trace(const fc_params *p, size_t n, int64_t t_start)
{
    trace t;
    size_t i, c;
    t.C = fc_schema_channels((fc_schema_id)p->schema);
    t.n = n;
    t.ts = xcalloc(n, sizeof *t.ts);
    t.v = xcalloc(n * (t.C ? t.C : 1), sizeof *t.v);
    for (i = 0; i < n; i++) {
        t.ts[i] = t_start + (int64_t)i * p->step_seconds;
        for (c = 0; c < t.C; c++) t.v[i * t.C + c] = (double)(1 + c) + 0.25 * (double)((i * 7 + c * 3) % 11);
    }
    return t;
}

static void free_trace(trace *t)
{
    free(t->ts);
    free(t->v);
    t->ts = NULL;
    t->v = NULL;
}

/* ------------------------------------------------------------------------------------ */

static void test_version(void)
{
    char buf[32];
    current = "version";
    CHECK(fc_version_number() == FC_VERSION_NUMBER);
    CHECK(FC_VERSION_NUMBER == FC_VERSION_MAJOR * 10000 + FC_VERSION_MINOR * 100 + FC_VERSION_PATCH);
    CHECK(str_eq(fc_version_string(), FC_VERSION_STRING));
    snprintf(buf, sizeof buf, "%d.%d.%d", FC_VERSION_MAJOR, FC_VERSION_MINOR, FC_VERSION_PATCH);
    CHECK(str_eq(buf, FC_VERSION_STRING));
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void test_schemas(void)
{
    static const char *const vm_ch[] = {"cpu_pct", "mem_pct", "disk_read_kbs",
                                        "disk_write_kbs", "net_rx_kbs", "net_tx_kbs"};
    static const char *const link_ch[] = {"bandwidth_mbps", "latency_ms", "packet_loss_ratio",
                                          "jitter_ms"};
    static const char *const derived[] = {"time_of_day", "day_of_week", "target_mean",
                                          "target_std", "target_min", "target_max",
                                          "target_slope", "target_ewma"};
    static const int32_t bad_ids[] = {0, 4, -1, 255, INT32_MIN, INT32_MAX};
    size_t i;
    uint64_t h = 0;
    current = "schemas";

    CHECK(str_eq(fc_schema_name(FC_SCHEMA_VM), "vm"));
    CHECK(str_eq(fc_schema_name(FC_SCHEMA_LINK), "link"));
    CHECK(fc_schema_channels(FC_SCHEMA_VM) == 6);
    CHECK(fc_schema_channels(FC_SCHEMA_LINK) == 4);
    CHECK(fc_schema_features(FC_SCHEMA_VM) == 6 + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES);
    CHECK(fc_schema_features(FC_SCHEMA_LINK) == 4 + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES);
    CHECK(fc_schema_features(FC_SCHEMA_VM) <= FC_MAX_FEATURES);
    CHECK(fc_schema_channels(FC_SCHEMA_VM) <= FC_MAX_CHANNELS);

    for (i = 0; i < 6; i++) {
        CHECK(str_eq(fc_channel_name(FC_SCHEMA_VM, i), vm_ch[i]));
        CHECK(str_eq(fc_feature_name(FC_SCHEMA_VM, i), vm_ch[i]));
    }
    for (i = 0; i < 4; i++) {
        CHECK(str_eq(fc_channel_name(FC_SCHEMA_LINK, i), link_ch[i]));
        CHECK(str_eq(fc_feature_name(FC_SCHEMA_LINK, i), link_ch[i]));
    }
    for (i = 0; i < 8; i++) {
        CHECK(str_eq(fc_feature_name(FC_SCHEMA_VM, 6 + i), derived[i]));
        CHECK(str_eq(fc_feature_name(FC_SCHEMA_LINK, 4 + i), derived[i]));
    }
    CHECK(fc_channel_name(FC_SCHEMA_VM, 6) == NULL);
    CHECK(fc_channel_name(FC_SCHEMA_LINK, 4) == NULL);
    CHECK(str_eq(fc_schema_name(FC_SCHEMA_METRIC), "metric"));
    CHECK(fc_schema_channels(FC_SCHEMA_METRIC) == 1);
    CHECK(fc_schema_features(FC_SCHEMA_METRIC) == 1 + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES);
    CHECK(str_eq(fc_channel_name(FC_SCHEMA_METRIC, 0), "value"));
    CHECK(str_eq(fc_feature_name(FC_SCHEMA_METRIC, 1), "time_of_day"));
    CHECK(fc_channel_name(FC_SCHEMA_METRIC, 1) == NULL);
    CHECK(fc_channel_name(FC_SCHEMA_LINK, (size_t)-1) == NULL);
    CHECK(fc_feature_name(FC_SCHEMA_VM, 14) == NULL);
    CHECK(fc_feature_name(FC_SCHEMA_LINK, 12) == NULL);
    CHECK(fc_feature_name(FC_SCHEMA_LINK, (size_t)-1) == NULL);

    for (i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        fc_schema_id id = (fc_schema_id)bad_ids[i];
        CHECK(fc_schema_name(id) == NULL);
        CHECK(fc_schema_channels(id) == 0);
        CHECK(fc_schema_features(id) == 0);
        CHECK(fc_channel_name(id, 0) == NULL);
        CHECK(fc_feature_name(id, 0) == NULL);
        CHECK(fc_schema_hash(id, &h) == FC_ERR_UNKNOWN_SCHEMA);
    }

    h = 0;
    CHECK(fc_schema_hash(FC_SCHEMA_VM, &h) == FC_OK);
    CHECK(h == FC_SCHEMA_HASH_VM);
    h = 0;
    CHECK(fc_schema_hash(FC_SCHEMA_LINK, &h) == FC_OK);
    CHECK(h == FC_SCHEMA_HASH_LINK);
    CHECK(FC_SCHEMA_HASH_VM != FC_SCHEMA_HASH_LINK);
    h = 0;
    CHECK(fc_schema_hash(FC_SCHEMA_METRIC, &h) == FC_OK);
    CHECK(h == FC_SCHEMA_HASH_METRIC);
    CHECK(fc_schema_hash(FC_SCHEMA_VM, NULL) == FC_ERR_NULL_POINTER);

    /* The hash recomputed here from the names, in the documented order (this also pins
     * the hashed text: "dwcp-fc/<major>;<schema>;target=<expr>;f32:<feature>..."). */
    {
        char major[16];
        uint64_t hv = 0xcbf29ce484222325ULL, hl = 0xcbf29ce484222325ULL;
        snprintf(major, sizeof major, "%d", FC_VERSION_MAJOR);
        hv = fnv1a(fnv1a(fnv1a(fnv1a(hv, "dwcp-fc/"), major), ";vm;target="),
                   "net_rx_kbs+net_tx_kbs");
        for (i = 0; i < 14; i++) hv = fnv1a(fnv1a(hv, ";f32:"), fc_feature_name(FC_SCHEMA_VM, i));
        hl = fnv1a(fnv1a(fnv1a(fnv1a(hl, "dwcp-fc/"), major), ";link;target="), "bandwidth_mbps");
        for (i = 0; i < 12; i++)
            hl = fnv1a(fnv1a(hl, ";f32:"), fc_feature_name(FC_SCHEMA_LINK, i));
        CHECK(hv == FC_SCHEMA_HASH_VM);
        CHECK(hl == FC_SCHEMA_HASH_LINK);
    }
}

static void test_params(void)
{
    fc_params p, q;
    fc_error e;
    size_t f;
    current = "params";

    CHECK(fc_params_init(NULL, FC_SCHEMA_VM) == FC_ERR_NULL_POINTER);
    CHECK(fc_params_init(&p, (fc_schema_id)0) == FC_ERR_UNKNOWN_SCHEMA);
    CHECK(fc_params_init(&p, (fc_schema_id)4) == FC_ERR_UNKNOWN_SCHEMA);
    CHECK_OK(fc_params_init(&p, FC_SCHEMA_VM));
    CHECK(p.schema == FC_SCHEMA_VM);
    CHECK(p.seq_len == 12 && p.stat_window == 12 && p.step_seconds == 300 && p.fill_limit == 2);
    for (f = 0; f < FC_MAX_FEATURES; f++) CHECK(p.center[f] == 0.0 && p.scale[f] == 1.0);
    CHECK_OK(fc_params_init(&p, FC_SCHEMA_LINK));
    CHECK(p.schema == FC_SCHEMA_LINK);
    CHECK_OK(fc_params_check(&p, &e));
    CHECK_OK(fc_params_check(&p, NULL));
    CHECK_ERR(fc_params_check(NULL, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);

    fc_params_init(&p, FC_SCHEMA_VM);
#define BAD(field, value)                                                                  \
    do {                                                                                   \
        q = p;                                                                             \
        q.field = (value);                                                                 \
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, -1);             \
        CHECK(fc_params_check(&q, NULL) == FC_ERR_BAD_PARAMS);                             \
        CHECK(fc_window_input_len(&q) == 0);                                               \
        CHECK(fc_window_output_len(&q) == 0);                                              \
        CHECK(fc_windows_count(&q, 1000, 1) == 0);                                         \
    } while (0)
#define GOOD(field, value)                                                                 \
    do {                                                                                   \
        q = p;                                                                             \
        q.field = (value);                                                                 \
        CHECK_OK(fc_params_check(&q, &e));                                                 \
    } while (0)
    BAD(seq_len, 0);
    BAD(seq_len, FC_MAX_LENGTH + 1);
    BAD(seq_len, UINT32_MAX);
    GOOD(seq_len, 1);
    GOOD(seq_len, FC_MAX_LENGTH);
    BAD(stat_window, 0);
    BAD(stat_window, 1);
    BAD(stat_window, FC_MAX_STAT_WINDOW + 1);
    BAD(stat_window, FC_MAX_LENGTH + 1);
    BAD(stat_window, UINT32_MAX);
    GOOD(stat_window, 2);
    GOOD(stat_window, FC_MAX_STAT_WINDOW);
    BAD(step_seconds, 0);
    BAD(step_seconds, -1);
    BAD(step_seconds, 86401);
    BAD(step_seconds, INT64_MIN);
    GOOD(step_seconds, 1);
    GOOD(step_seconds, 86400);
    BAD(fill_limit, FC_MAX_LENGTH + 1);
    GOOD(fill_limit, 0);
    GOOD(fill_limit, FC_MAX_LENGTH);
#undef BAD
#undef GOOD

    q = p;
    q.schema = 0;
    CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);
    q.schema = -7;
    CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);

    /* center / scale: the first bad entry among the schema's features is reported. */
    for (f = 0; f < 14; f++) {
        q = p;
        q.center[f] = NAN;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
        q = p;
        q.center[f] = -INFINITY;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
        q = p;
        q.scale[f] = 0.0;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
        q = p;
        q.scale[f] = -0.0;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
        q = p;
        q.scale[f] = -2.0;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
        q = p;
        q.scale[f] = INFINITY;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
        q = p;
        q.scale[f] = NAN;
        CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
    }
    q = p;
    q.scale[3] = 0.0;
    q.center[9] = NAN;
    CHECK_ERR(fc_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, 3);
    /* Entries past the schema's features are ignored. */
    q = p;
    q.center[14] = NAN;
    q.scale[15] = 0.0;
    CHECK_OK(fc_params_check(&q, &e));
    fc_params_init(&q, FC_SCHEMA_LINK);
    q.scale[12] = -1.0;
    q.center[13] = INFINITY;
    CHECK_OK(fc_params_check(&q, &e));
    q.scale[11] = DBL_MIN / 4; /* subnormal but > 0 */
    CHECK_OK(fc_params_check(&q, &e));

    /* Sizes. */
    CHECK(fc_window_input_len(&p) == 23);
    CHECK(fc_window_output_len(&p) == 12 * 14);
    CHECK(fc_window_input_len(NULL) == 0);
    CHECK(fc_window_output_len(NULL) == 0);
    fc_params_init(&q, FC_SCHEMA_LINK);
    CHECK(fc_window_output_len(&q) == 12 * 12);
    q.seq_len = 1;
    q.stat_window = 2;
    CHECK(fc_window_input_len(&q) == 2);
    CHECK(fc_window_output_len(&q) == 12);
    q.seq_len = FC_MAX_LENGTH;
    q.stat_window = FC_MAX_STAT_WINDOW;
    CHECK(fc_window_input_len(&q) == (size_t)FC_MAX_LENGTH + FC_MAX_STAT_WINDOW - 1);
    CHECK(fc_window_output_len(&q) == (size_t)FC_MAX_LENGTH * 12);
    CHECK(fc_windows_count(&p, 23, 1) == 1);
    CHECK(fc_windows_count(&p, 22, 1) == 0);
    CHECK(fc_windows_count(&p, 0, 1) == 0);
    CHECK(fc_windows_count(&p, 30, 1) == 8);
    CHECK(fc_windows_count(&p, 30, 3) == 3);
    CHECK(fc_windows_count(&p, 30, 7) == 2);
    CHECK(fc_windows_count(&p, 30, 8) == 1);
    CHECK(fc_windows_count(&p, 30, 0) == 0);
    CHECK(fc_windows_count(&p, 30, SIZE_MAX) == 1);
    CHECK(fc_windows_count(&p, SIZE_MAX, 1) == SIZE_MAX - 22);
    CHECK(fc_windows_count(NULL, 30, 1) == 0);
}

/* fc_window on the link schema, T = 2, W = 3: 4 samples, 4 channels, 12 features. */
static void test_window_status(void)
{
    fc_params p, q;
    fc_error e;
    trace t;
    float *out;
    const size_t need = 4, C = 4, F = 12, olen = 2 * 12;
    size_t i;
    current = "fc_window status";

    fc_params_init(&p, FC_SCHEMA_LINK);
    p.seq_len = 2;
    p.stat_window = 3;
    CHECK(fc_window_input_len(&p) == need);
    CHECK(fc_window_output_len(&p) == olen);
    t = make_trace(&p, need + 1, 1700000000);
    out = xcalloc(olen + 8, sizeof *out);

    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_OK, -1, -1, -1);
    CHECK_OK(fc_window(&p, t.ts, need, t.v, need * C, out, olen, NULL));
    /* Pointers. */
    CHECK_ERR(fc_window(NULL, t.ts, need, t.v, need * C, out, olen, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_window(&p, NULL, need, t.v, need * C, out, olen, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need, NULL, need * C, out, olen, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, NULL, olen, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK(fc_window(NULL, t.ts, need, t.v, need * C, out, olen, NULL) == FC_ERR_NULL_POINTER);
    /* Schema and params. */
    q = p;
    q.schema = 9;
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e,
              FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);
    q = p;
    q.stat_window = 1;
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_BAD_PARAMS,
              -1, -1, -1);
    q = p;
    q.scale[7] = 0.0;
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_BAD_PARAMS,
              -1, -1, 7);
    /* Lengths. */
    CHECK_ERR(fc_window(&p, t.ts, need - 1, t.v, (need - 1) * C, out, olen, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need + 1, t.v, (need + 1) * C, out, olen, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C - 1, out, olen, &e), &e, FC_ERR_LENGTH,
              -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C + 1, out, olen, &e), &e, FC_ERR_LENGTH,
              -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, 0, t.v, 0, out, olen, &e), &e, FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_window(&p, NULL, 0, NULL, 0, out, olen, &e), &e, FC_ERR_LENGTH, -1, -1, -1);
    /* Output. */
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen - 1, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, 0, &e), &e, FC_ERR_OUTPUT_SIZE,
              -1, -1, -1);
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, NULL, 0, &e), &e, FC_ERR_OUTPUT_SIZE,
              -1, -1, -1);
    /* A larger buffer is fine and nothing past the window is written. */
    for (i = 0; i < olen + 8; i++) out[i] = -7.0f;
    CHECK_OK(fc_window(&p, t.ts, need, t.v, need * C, out, olen + 8, &e));
    for (i = olen; i < olen + 8; i++) CHECK(fbits(out[i]) == fbits(-7.0f));
    for (i = 0; i < olen; i++) CHECK(isfinite(out[i]));

    /* Values: the first bad sample in order, its channels in order. */
#define VAL(sample, channel, value, want, want_ch)                                          \
    do {                                                                                    \
        double saved_ = t.v[(sample) * C + (channel)];                                      \
        t.v[(sample) * C + (channel)] = (value);                                            \
        CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, (want),      \
                  (want) == FC_OK ? -1 : (int64_t)(sample), (want_ch), -1);                 \
        t.v[(sample) * C + (channel)] = saved_;                                             \
    } while (0)
    VAL(2, 1, NAN, FC_ERR_MISSING, 1);
    VAL(0, 0, -NAN, FC_ERR_MISSING, 0);
    VAL(3, 3, INFINITY, FC_ERR_INFINITE, 3);
    VAL(1, 2, -INFINITY, FC_ERR_INFINITE, 2);
    VAL(3, 3, -1.0, FC_ERR_NEGATIVE, 3);
    VAL(0, 1, -DBL_MIN / 8, FC_ERR_NEGATIVE, 1); /* negative subnormal */
    VAL(2, 2, -0.0, FC_OK, -1);                  /* -0.0 is not below 0 */
    VAL(2, 2, DBL_MIN / 8, FC_OK, -1);           /* positive subnormal */
#undef VAL
    /* Two bad values: the earlier sample wins, and inside a sample the lower channel. */
    t.v[3 * C + 0] = -1.0;
    t.v[1 * C + 3] = NAN;
    t.v[1 * C + 2] = INFINITY;
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_INFINITE, 1,
              2, -1);
    free_trace(&t);
    t = make_trace(&p, need, 1700000000);

    /* Timestamps. */
#define TS(sample, value, want)                                                             \
    do {                                                                                    \
        int64_t saved_ = t.ts[(sample)];                                                    \
        t.ts[(sample)] = (value);                                                           \
        CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, (want),      \
                  (want) == FC_OK ? -1 : (int64_t)(sample), -1, -1);                        \
        t.ts[(sample)] = saved_;                                                            \
    } while (0)
    TS(2, t.ts[1], FC_ERR_TIME_ORDER);          /* duplicate */
    TS(2, t.ts[1] - 1, FC_ERR_TIME_ORDER);      /* backwards */
    TS(1, t.ts[0] - 300, FC_ERR_TIME_ORDER);
    TS(3, t.ts[2] + 301, FC_ERR_TIME_GAP);      /* one second late */
    TS(3, t.ts[2] + 299, FC_ERR_TIME_GAP);      /* one second early */
    TS(1, t.ts[0] + 600, FC_ERR_TIME_GAP);      /* a missing sample */
    TS(0, -300, FC_ERR_TIME_RANGE);             /* negative */
    TS(0, INT64_MIN, FC_ERR_TIME_RANGE);
    TS(0, t.ts[0] * 1000, FC_ERR_TIME_RANGE);  /* milliseconds */
    TS(0, FC_TS_MAX + 1, FC_ERR_TIME_RANGE);
    TS(0, INT64_MAX, FC_ERR_TIME_RANGE);
    TS(3, t.ts[3] * 1000, FC_ERR_TIME_RANGE);  /* milliseconds after valid samples */
    TS(3, INT64_MAX, FC_ERR_TIME_RANGE);
#undef TS
    /* The first sample off the grid: the gap is reported at sample 1. */
    t.ts[0] -= 1;
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_TIME_GAP, 1,
              -1, -1);
    t.ts[0] += 1;
    /* Whole trace in milliseconds: the first sample is reported. */
    for (i = 0; i < need; i++) t.ts[i] = (1700000000 + (int64_t)i * 300) * 1000;
    p.step_seconds = 86400; /* the grid cannot help: the range is checked first */
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_TIME_RANGE,
              0, -1, -1);
    p.step_seconds = 300;
    /* Boundaries of the timestamp range are valid. */
    for (i = 0; i < need; i++) t.ts[i] = (int64_t)i * 300;
    CHECK_OK(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e));
    for (i = 0; i < need; i++) t.ts[i] = FC_TS_MAX - 900 + (int64_t)i * 300;
    CHECK_OK(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e)); /* ends at FC_TS_MAX */
    for (i = 0; i < need; i++) t.ts[i] = FC_TS_MAX - 600 + (int64_t)i * 300;
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_TIME_RANGE,
              3, -1, -1); /* on the grid, one step past 9999-12-31T23:59:59 */
    free_trace(&t);

    /* Results that do not fit float32 (FC_ERR_RANGE): index = the step's last sample,
     * feature = the first feature that overflows. */
    t = make_trace(&p, need, 1700000000);
    t.v[3 * C + 1] = 1e39; /* latency at the second step */
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 3, -1,
              1);
    t.v[3 * C + 1] = (double)FLT_MAX; /* the largest float is fine */
    CHECK_OK(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e));
    CHECK(fbits(out[F + 1]) == 0x7f7fffffu);
    t.v[3 * C + 1] = DBL_MAX;
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 3, -1,
              1);
    t.v[3 * C + 1] = 2.0;
    t.v[2 * C + 0] = 1e300; /* target (bandwidth) at the first step: channel 0 first */
    CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 2, -1,
              0);
    q = p;
    q.scale[0] = 1e300; /* channel fits now; the target mean does not */
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 2, -1,
              6);
    t.v[2 * C + 0] = 3.0;
    q = p;
    q.scale[5] = 1e-300; /* tiny scale: day_of_week (Tuesday = 1 here) overflows */
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 2, -1,
              5);
    q = p;
    q.center[1] = -1e300; /* huge center */
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 2, -1,
              1);
    q = p;
    q.scale[9] = 1e-45; /* tiny scale on target_max */
    CHECK_ERR(fc_window(&q, t.ts, need, t.v, need * C, out, olen, &e), &e, FC_ERR_RANGE, 2, -1,
              9);
    /* Tiny results underflow to 0 or a subnormal float: not an error. */
    t.v[3 * C + 2] = 1e-300;
    t.v[3 * C + 3] = 1e-40;
    CHECK_OK(fc_window(&p, t.ts, need, t.v, need * C, out, olen, &e));
    CHECK(fbits(out[F + 2]) == 0u);
    CHECK_FLOAT(out[F + 3], (float)1e-40);
    free_trace(&t);
    free(out);
}

/* fc_windows statuses (VM schema, T = 3, W = 2: 4 samples per window). */
static void test_windows_status(void)
{
    fc_params p, q;
    fc_error e;
    trace t;
    float *out;
    size_t nw = 99, n = 10, C = 6, F = 14, per = 3 * 14, cnt, olen;
    current = "fc_windows status";

    fc_params_init(&p, FC_SCHEMA_VM);
    p.seq_len = 3;
    p.stat_window = 2;
    t = make_trace(&p, n, 86400 * 4); /* Monday 1970-01-05 */
    cnt = fc_windows_count(&p, n, 2);
    CHECK(cnt == 4);
    olen = cnt * per;
    out = xcalloc(olen + per, sizeof *out);

    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 2, out, olen, &nw, &e), &e, FC_OK, -1, -1, -1);
    CHECK(nw == 4);
    CHECK_ERR(fc_windows(NULL, t.ts, n, t.v, n * C, 2, out, olen, &nw, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, NULL, n, t.v, n * C, 2, out, olen, &nw, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, NULL, n * C, 2, out, olen, &nw, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 2, NULL, olen, &nw, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 2, out, olen, NULL, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    q = p;
    q.schema = 0;
    CHECK_ERR(fc_windows(&q, t.ts, n, t.v, n * C, 2, out, olen, &nw, &e), &e,
              FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);
    q = p;
    q.step_seconds = 0;
    CHECK_ERR(fc_windows(&q, t.ts, n, t.v, n * C, 2, out, olen, &nw, &e), &e,
              FC_ERR_BAD_PARAMS, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 0, out, olen, &nw, &e), &e,
              FC_ERR_BAD_PARAMS, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C - 1, 2, out, olen, &nw, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C + 6, 2, out, olen, &nw, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n - 1, t.v, n * C, 2, out, olen, &nw, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 2, out, olen - 1, &nw, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 2, NULL, 0, &nw, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    /* Too short for one window: no window, not an error; out may be NULL. */
    nw = 99;
    CHECK_ERR(fc_windows(&p, t.ts, 3, t.v, 3 * C, 1, NULL, 0, &nw, &e), &e, FC_OK, -1, -1, -1);
    CHECK(nw == 0);
    nw = 99;
    CHECK_ERR(fc_windows(&p, NULL, 0, NULL, 0, 1, NULL, 0, &nw, &e), &e, FC_OK, -1, -1, -1);
    CHECK(nw == 0);
    /* ... but every sample is still validated. */
    t.v[2 * C + 4] = NAN;
    CHECK_ERR(fc_windows(&p, t.ts, 3, t.v, 3 * C, 1, NULL, 0, &nw, &e), &e, FC_ERR_MISSING, 2,
              4, -1);
    t.v[2 * C + 4] = 1.0;
    /* The whole trace is validated first, even samples no window covers: with stride 4,
     * windows cover samples 0..3 and 4..7; samples 8 and 9 are only checked. */
    CHECK(fc_windows_count(&p, n, 4) == 2);
    t.v[9 * C + 5] = -3.0;
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 4, out, olen, &nw, &e), &e, FC_ERR_NEGATIVE,
              9, 5, -1);
    t.v[9 * C + 5] = INFINITY;
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 4, out, olen, &nw, &e), &e, FC_ERR_INFINITE,
              9, 5, -1);
    t.v[9 * C + 5] = 1.0;
    t.ts[9] += 1;
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 4, out, olen, &nw, &e), &e, FC_ERR_TIME_GAP,
              9, -1, -1);
    t.ts[9] = t.ts[8];
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 4, out, olen, &nw, &e), &e,
              FC_ERR_TIME_ORDER, 9, -1, -1);
    t.ts[9] = FC_TS_MAX + 1;
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 4, out, olen, &nw, &e), &e,
              FC_ERR_TIME_RANGE, 9, -1, -1);
    t.ts[9] = t.ts[8] + 300;
    /* A value that overflows float32 in the 3rd window (sample 7, disk_write). */
    t.v[7 * C + 3] = 1e40;
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 2, out, olen, &nw, &e), &e, FC_ERR_RANGE, 7,
              -1, 3);
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 1, out, 7 * per, &nw, &e), &e, FC_ERR_RANGE,
              7, -1, 3);
    t.v[7 * C + 3] = 1.0;
    CHECK_OK(fc_windows(&p, t.ts, n, t.v, n * C, 2, out, olen + per, &nw, NULL));
    CHECK(nw == 4);
    (void)F;
    free_trace(&t);
    free(out);
}

static void test_grid(void)
{
    fc_params p, q;
    fc_error e;
    int64_t t0 = -1;
    size_t nb = 0;
    int64_t ts[4] = {1000, 650, 1299, 900};
    int64_t one[1];
    current = "fc_grid";

    fc_params_init(&p, FC_SCHEMA_LINK);
    CHECK_OK(fc_grid(&p, ts, 4, &t0, &nb, &e));
    CHECK(t0 == 600 && nb == 3);
    CHECK_OK(fc_grid(&p, ts, 1, &t0, &nb, NULL));
    CHECK(t0 == 900 && nb == 1);
    ts[2] = 1500; /* max exactly on a bin start */
    CHECK_OK(fc_grid(&p, ts, 3, &t0, &nb, &e));
    CHECK(t0 == 600 && nb == 4);
    one[0] = 0;
    CHECK_OK(fc_grid(&p, one, 1, &t0, &nb, &e));
    CHECK(t0 == 0 && nb == 1);
    one[0] = FC_TS_MAX;
    p.step_seconds = 86400;
    CHECK_OK(fc_grid(&p, one, 1, &t0, &nb, &e));
    CHECK(t0 == FC_TS_MAX - 86399 && nb == 1);
    p.step_seconds = 1;
    ts[0] = 0;
    ts[1] = FC_TS_MAX;
    CHECK_OK(fc_grid(&p, ts, 2, &t0, &nb, &e));
    CHECK(t0 == 0 && nb == (size_t)FC_TS_MAX + 1);
    p.step_seconds = 300;
    ts[0] = 1000;
    ts[1] = 650;
    ts[2] = 1299;

    CHECK_ERR(fc_grid(NULL, ts, 4, &t0, &nb, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_grid(&p, NULL, 4, &t0, &nb, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_grid(&p, ts, 4, NULL, &nb, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_grid(&p, ts, 4, &t0, NULL, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_grid(&p, ts, 0, &t0, &nb, &e), &e, FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_grid(&p, NULL, 0, &t0, &nb, &e), &e, FC_ERR_LENGTH, -1, -1, -1);
    q = p;
    q.schema = 77;
    CHECK_ERR(fc_grid(&q, ts, 4, &t0, &nb, &e), &e, FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);
    q = p;
    q.step_seconds = 86401;
    CHECK_ERR(fc_grid(&q, ts, 4, &t0, &nb, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, -1);
    ts[2] = -1;
    CHECK_ERR(fc_grid(&p, ts, 4, &t0, &nb, &e), &e, FC_ERR_TIME_RANGE, 2, -1, -1);
    ts[2] = INT64_MIN;
    CHECK_ERR(fc_grid(&p, ts, 4, &t0, &nb, &e), &e, FC_ERR_TIME_RANGE, 2, -1, -1);
    ts[2] = 1299;
    ts[3] = 1700000000000LL; /* milliseconds */
    CHECK_ERR(fc_grid(&p, ts, 4, &t0, &nb, &e), &e, FC_ERR_TIME_RANGE, 3, -1, -1);
    ts[3] = INT64_MAX;
    CHECK_ERR(fc_grid(&p, ts, 4, &t0, &nb, &e), &e, FC_ERR_TIME_RANGE, 3, -1, -1);
}

static const uint64_t CANONICAL_NAN = 0x7ff8000000000000ULL;

static void test_resample(void)
{
    /* link schema (4 channels), step 300, t0 = 0, 8 bins, fill_limit 2. */
    enum { C = 4, NB = 8, NS = 7 };
    fc_params p, q;
    fc_error e;
    /* Input order on purpose: not sorted, a duplicate timestamp, samples outside the grid. */
    int64_t ts[NS] = {400, 310, 20, 310, 10, 2400, 1500};
    double v[NS * C], out[NB * C];
    uint32_t counts[NB];
    size_t i, c;
    double d10[C] = {0.1, 1.0, 0.0, 7.0}, d20[C] = {0.2, 3.0, 0.0, 9.0};
    double d310a[C] = {4.0, 0.3, 1e300, 0.0}, d310b[C] = {6.0, 0.2, 1e300, 0.0};
    double d400[C] = {5.0, 0.1, 2.0, 1.0}, d1500[C] = {8.0, 8.0, 8.0, 8.0};
    double d2400[C] = {9.0, 9.0, 9.0, 9.0};
    current = "fc_resample";

    memcpy(v + 0 * C, d400, sizeof d400);
    memcpy(v + 1 * C, d310a, sizeof d310a);
    memcpy(v + 2 * C, d20, sizeof d20);
    memcpy(v + 3 * C, d310b, sizeof d310b);
    memcpy(v + 4 * C, d10, sizeof d10);
    memcpy(v + 5 * C, d2400, sizeof d2400); /* bin 8: outside the grid, ignored */
    memcpy(v + 6 * C, d1500, sizeof d1500); /* bin 5 */

    fc_params_init(&p, FC_SCHEMA_LINK);
    p.fill_limit = 2;
    for (i = 0; i < NB * C; i++) out[i] = -1.0;
    for (i = 0; i < NB; i++) counts[i] = 999;
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e, FC_OK,
              -1, -1, -1);
    /* bin 0 = [0, 300): samples at 20 then 10, summed in input order. */
    CHECK(counts[0] == 2);
    for (c = 0; c < C; c++) CHECK_DOUBLE(out[0 * C + c], (d20[c] + d10[c]) / 2.0);
    /* bin 1 = [300, 600): 400, 310, 310 in input order (310a before 310b). */
    CHECK(counts[1] == 3);
    for (c = 0; c < C; c++)
        CHECK_DOUBLE(out[1 * C + c], ((d400[c] + d310a[c]) + d310b[c]) / 3.0);
    /* bins 2, 3 empty: carried forward (fill_limit 2); bin 4 empty: missing. */
    CHECK(counts[2] == 0 && counts[3] == 0 && counts[4] == 0);
    for (c = 0; c < C; c++) {
        CHECK_DOUBLE(out[2 * C + c], out[1 * C + c]);
        CHECK_DOUBLE(out[3 * C + c], out[1 * C + c]);
        CHECK(dbits(out[4 * C + c]) == CANONICAL_NAN);
    }
    /* bin 5 = [1500, 1800): one sample, exact copy. */
    CHECK(counts[5] == 1);
    for (c = 0; c < C; c++) CHECK_DOUBLE(out[5 * C + c], d1500[c]);
    /* bins 6, 7: carried. */
    CHECK(counts[6] == 0 && counts[7] == 0);
    for (c = 0; c < C; c++) {
        CHECK_DOUBLE(out[6 * C + c], d1500[c]);
        CHECK_DOUBLE(out[7 * C + c], d1500[c]);
    }
    /* The sum follows input order: (0.1 + 0.2)/2 differs from (0.2 + 0.1)/2? no, but
     * (0.3 + 0.2) + 0.1 != (0.1 + 0.2) + 0.3: pin the documented order. */
    {
        int64_t t3[3] = {5, 6, 7};
        double v3[3 * C] = {0.1, 0, 0, 0, 0.2, 0, 0, 0, 0.3, 0, 0, 0};
        double o1[C];
        uint32_t k1[1];
        CHECK_OK(fc_resample(&p, 0, 1, t3, 3, v3, 3 * C, o1, C, k1, 1, &e));
        CHECK_DOUBLE(o1[0], ((0.1 + 0.2) + 0.3) / 3.0);
        v3[0] = 0.3;
        v3[8] = 0.1;
        CHECK_OK(fc_resample(&p, 0, 1, t3, 3, v3, 3 * C, o1, C, k1, 1, &e));
        CHECK_DOUBLE(o1[0], ((0.3 + 0.2) + 0.1) / 3.0);
        CHECK(((0.1 + 0.2) + 0.3) != ((0.3 + 0.2) + 0.1)); /* the test means something */
    }

    /* fill_limit 0: nothing carried; t0 earlier than the first sample: leading bins missing. */
    q = p;
    q.fill_limit = 0;
    CHECK_OK(fc_resample(&q, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e));
    for (c = 0; c < C; c++) {
        CHECK(dbits(out[2 * C + c]) == CANONICAL_NAN);
        CHECK(dbits(out[6 * C + c]) == CANONICAL_NAN);
    }
    q.fill_limit = 1;
    CHECK_OK(fc_resample(&q, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e));
    for (c = 0; c < C; c++) {
        CHECK_DOUBLE(out[2 * C + c], out[1 * C + c]);
        CHECK(dbits(out[3 * C + c]) == CANONICAL_NAN);
    }
    q.fill_limit = FC_MAX_LENGTH;
    CHECK_OK(fc_resample(&q, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e));
    for (c = 0; c < C; c++) CHECK_DOUBLE(out[4 * C + c], out[1 * C + c]);
    /* t0 = -? no: t0 = 0 with samples only from 1500: bins 0..4 missing (before any). */
    CHECK_OK(fc_resample(&p, 0, NB, ts + 6, 1, v + 6 * C, C, out, NB * C, counts, NB, &e));
    for (i = 0; i < 5; i++) {
        CHECK(counts[i] == 0);
        for (c = 0; c < C; c++) CHECK(dbits(out[i * C + c]) == CANONICAL_NAN);
    }
    CHECK(counts[5] == 1);
    /* t0 past some samples: those are ignored (bin 0 = [300, 600)). */
    CHECK_OK(fc_resample(&p, 300, 2, ts, NS, v, NS * C, out, 2 * C, counts, 2, &e));
    CHECK(counts[0] == 3 && counts[1] == 0);
    /* Zero bins and no samples are fine. */
    CHECK_OK(fc_resample(&p, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &e));
    CHECK_OK(fc_resample(&p, 0, 2, NULL, 0, NULL, 0, out, 2 * C, counts, 2, &e));
    CHECK(counts[0] == 0 && counts[1] == 0 && dbits(out[0]) == CANONICAL_NAN &&
          dbits(out[2 * C - 1]) == CANONICAL_NAN);
    /* Larger buffers are fine and untouched past n_bins. */
    for (i = 0; i < NB * C; i++) out[i] = -1.0;
    for (i = 0; i < NB; i++) counts[i] = 999;
    CHECK_OK(fc_resample(&p, 0, 2, ts, NS, v, NS * C, out, NB * C, counts, NB, &e));
    CHECK(dbits(out[2 * C]) == dbits(-1.0) && counts[2] == 999);

    /* Statuses. */
    CHECK_ERR(fc_resample(NULL, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, NULL, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, NULL, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, NULL, NB * C, counts, NB, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, NULL, NB, &e), &e,
              FC_ERR_NULL_POINTER, -1, -1, -1);
    q = p;
    q.schema = 0;
    CHECK_ERR(fc_resample(&q, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);
    q = p;
    q.fill_limit = FC_MAX_LENGTH + 1;
    CHECK_ERR(fc_resample(&q, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_BAD_PARAMS, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, -300, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_TIME_RANGE, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, FC_TS_MAX + 1, NB, ts, NS, v, NS * C, out, NB * C, counts, NB,
                          &e),
              &e, FC_ERR_TIME_RANGE, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C - 1, out, NB * C, counts, NB, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS - 1, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_LENGTH, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C - 1, counts, NB, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB - 1, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, NULL, 0, counts, NB, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(fc_resample(&p, 0, SIZE_MAX, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    /* Raw values: every sample is checked, also those outside the grid (sample 5). */
#define RAW(sample, channel, value, want)                                                   \
    do {                                                                                    \
        double saved_ = v[(sample) * C + (channel)];                                        \
        v[(sample) * C + (channel)] = (value);                                              \
        CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e),   \
                  &e, (want), (sample), (channel), -1);                                     \
        v[(sample) * C + (channel)] = saved_;                                               \
    } while (0)
    RAW(2, 3, NAN, FC_ERR_MISSING);
    RAW(5, 0, NAN, FC_ERR_MISSING);
    RAW(0, 1, INFINITY, FC_ERR_INFINITE);
    RAW(3, 2, -INFINITY, FC_ERR_INFINITE);
    RAW(6, 3, -0.5, FC_ERR_NEGATIVE);
#undef RAW
    ts[4] = -10;
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_TIME_RANGE, 4, -1, -1);
    ts[4] = 10000LL * 1000; /* milliseconds */
    ts[4] = 1700000000000LL;
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_TIME_RANGE, 4, -1, -1);
    ts[4] = 10;
    /* An average that overflows double: RANGE at the bin and channel. */
    v[3 * C + 2] = DBL_MAX;
    v[1 * C + 2] = DBL_MAX;
    CHECK_ERR(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e), &e,
              FC_ERR_RANGE, 1, 2, -1);
    v[3 * C + 2] = 1e300;
    v[1 * C + 2] = 1e300;
    /* Huge but finite averages are fine (doubles, not floats). */
    CHECK_OK(fc_resample(&p, 0, NB, ts, NS, v, NS * C, out, NB * C, counts, NB, &e));
    CHECK_DOUBLE(out[1 * C + 2], ((2.0 + 1e300) + 1e300) / 3.0);
}

/* Every window of fc_windows equals fc_window on the same samples, bit for bit. */
static void test_windows_equal_window(void)
{
    static const size_t strides[] = {1, 2, 3, 5, 6, 7, 40};
    static const fc_schema_id schemas[] = {FC_SCHEMA_VM, FC_SCHEMA_LINK};
    fc_params p;
    fc_error e;
    trace t;
    size_t si, k, sc, n = 31;
    current = "fc_windows == fc_window";

    for (sc = 0; sc < 2; sc++) {
        size_t C, F, per, need;
        fc_params_init(&p, schemas[sc]);
        p.seq_len = 6;
        p.stat_window = 4;
        p.step_seconds = 3600;
        p.center[0] = 1.5;
        p.scale[0] = 3.0;
        p.scale[p.schema == FC_SCHEMA_VM ? 10 : 8] = 0.1;
        C = fc_schema_channels(schemas[sc]);
        F = fc_schema_features(schemas[sc]);
        per = p.seq_len * F;
        need = fc_window_input_len(&p);
        t = make_trace(&p, n, 1704067200 - 7200); /* crosses midnight and a week day */
        for (k = 0; k < n * C; k++) t.v[k] = t.v[k] * 1.1 + (double)(k % 5) / 3.0;
        for (si = 0; si < sizeof strides / sizeof strides[0]; si++) {
            size_t stride = strides[si], nw = 0, cnt = fc_windows_count(&p, n, stride);
            float *all = xcalloc(cnt * per, sizeof *all), *one = xcalloc(per, sizeof *one);
            CHECK(cnt == (n - need) / stride + 1);
            CHECK_OK(fc_windows(&p, t.ts, n, t.v, n * C, stride, all, cnt * per, &nw, &e));
            CHECK(nw == cnt);
            for (k = 0; k < nw; k++) {
                size_t off = k * stride;
                CHECK_OK(fc_window(&p, t.ts + off, need, t.v + off * C, need * C, one, per, &e));
                if (!CHECK(memcmp(one, all + k * per, per * sizeof(float)) == 0))
                    printf("  window %zu, stride %zu, schema %d differs\n", k, stride,
                           (int)schemas[sc]);
            }
            /* A window's first row depends only on the samples behind it. */
            if (nw > 1 && stride < p.seq_len)
                CHECK(memcmp(all + per, all + stride * F, (p.seq_len - stride) * F * sizeof(float)) == 0);
            free(all);
            free(one);
        }
        free_trace(&t);
    }
}

/* Hand-checked feature values. */
static void test_values(void)
{
    fc_params p;
    fc_error e;
    int64_t ts[8];
    double v[8 * 6];
    float out[14 * 8];
    size_t i, c;
    current = "feature values";

    /* Link schema, T = 1, W = 4: one row of 12 features from 4 samples. */
    fc_params_init(&p, FC_SCHEMA_LINK);
    p.seq_len = 1;
    p.stat_window = 4;
    p.step_seconds = 60;
    /* Constant window: std 0, slope 0, mean = min = max = ewma = the constant. */
    for (i = 0; i < 4; i++) {
        ts[i] = 12 * 3600 + (int64_t)i * 60; /* ends 1970-01-01 12:03 */
        for (c = 0; c < 4; c++) v[i * 4 + c] = 5.0 + (double)c;
    }
    CHECK_OK(fc_window(&p, ts, 4, v, 16, out, 12, &e));
    CHECK_FLOAT(out[0], 5.0f);
    CHECK_FLOAT(out[1], 6.0f);
    CHECK_FLOAT(out[2], 7.0f);
    CHECK_FLOAT(out[3], 8.0f);
    CHECK_FLOAT(out[4], (float)((12.0 * 3600 + 180) / 86400.0)); /* time_of_day */
    CHECK_FLOAT(out[5], 3.0f);                                  /* Thursday */
    CHECK_FLOAT(out[6], 5.0f);                                  /* mean */
    CHECK(fbits(out[7]) == 0u);                                 /* std = +0 */
    CHECK_FLOAT(out[8], 5.0f);                                  /* min */
    CHECK_FLOAT(out[9], 5.0f);                                  /* max */
    CHECK(fbits(out[10]) == 0u);                                /* slope = +0 */
    CHECK_FLOAT(out[11], 5.0f);                                 /* ewma */

    /* Linear ramp 10, 12.5, 15, 17.5: slope = the step, 2.5 (exact). */
    for (i = 0; i < 4; i++) v[i * 4 + 0] = 10.0 + 2.5 * (double)i;
    CHECK_OK(fc_window(&p, ts, 4, v, 16, out, 12, &e));
    CHECK_FLOAT(out[10], 2.5f);
    CHECK_FLOAT(out[6], 13.75f);
    CHECK_FLOAT(out[8], 10.0f);
    CHECK_FLOAT(out[9], 17.5f);
    /* population std: deviations -3.75 -1.25 1.25 3.75 -> sq = 31.25, / 4 */
    CHECK_FLOAT(out[7], (float)sqrt(31.25 / 4.0));
    /* EWMA (docs/feature-core.md): e0 = y0, e = (1 - a) e + a y, a = 2 / (W + 1) = 0.4. */
    {
        double a = 2.0 / 5.0, keep = 1.0 - a, m = 10.0;
        m = keep * m + a * 12.5;
        m = keep * m + a * 15.0;
        m = keep * m + a * 17.5;
        CHECK_FLOAT(out[11], (float)m);
        CHECK(fabs((double)out[11] - 14.56) < 1e-5); /* 10 -> 11 -> 12.6 -> 14.56 */
    }
    /* Falling ramp: negative slope. */
    for (i = 0; i < 4; i++) v[i * 4 + 0] = 100.0 - 3.0 * (double)i;
    CHECK_OK(fc_window(&p, ts, 4, v, 16, out, 12, &e));
    CHECK_FLOAT(out[10], -3.0f);
    CHECK_FLOAT(out[8], 91.0f);
    CHECK_FLOAT(out[9], 100.0f);

    /* Normalisation: (x - center) / scale, rounded once to float. */
    p.center[0] = 100.0;
    p.scale[0] = 4.0;
    p.center[10] = 1.0;
    p.scale[10] = 2.0;
    p.scale[1] = 3.0;
    CHECK_OK(fc_window(&p, ts, 4, v, 16, out, 12, &e));
    CHECK_FLOAT(out[0], (float)((91.0 - 100.0) / 4.0));
    CHECK_FLOAT(out[1], (float)(6.0 / 3.0));
    CHECK_FLOAT(out[10], -2.0f); /* (-3 - 1) / 2 */
    CHECK_FLOAT(out[2], 7.0f);
    /* 0.1 / 3 rounded once (double quotient, then float), not in float arithmetic. */
    v[3 * 4 + 1] = 0.1;
    CHECK_OK(fc_window(&p, ts, 4, v, 16, out, 12, &e));
    CHECK_FLOAT(out[1], (float)(0.1 / 3.0));

    /* time_of_day / day_of_week at known UTC instants (T = 1: the last sample). */
    fc_params_init(&p, FC_SCHEMA_LINK);
    p.seq_len = 1;
    p.stat_window = 2;
    p.step_seconds = 1;
    for (c = 0; c < 8; c++) v[c] = 1.0;
    {
        static const struct {
            int64_t t;
            double tod;
            float dow;
        } k[] = {
            {1, 1.0 / 86400.0, 3.0f},                 /* 1970-01-01T00:00:01Z Thursday */
            {43200, 0.5, 3.0f},                       /* noon */
            {86399, 86399.0 / 86400.0, 3.0f},         /* last second of the day */
            {86400, 0.0, 4.0f},                       /* Friday */
            {3 * 86400 + 21600, 0.25, 6.0f},          /* Sunday 06:00 */
            {4 * 86400, 0.0, 0.0f},                   /* Monday 1970-01-05 */
            {1704067200, 0.0, 0.0f},                  /* Monday 2024-01-01 */
            {1704067200 + 64800, 0.75, 0.0f},         /* 18:00 */
            {FC_TS_MAX, 86399.0 / 86400.0, 4.0f},     /* Friday 9999-12-31T23:59:59 */
        };
        for (i = 0; i < sizeof k / sizeof k[0]; i++) {
            int64_t two[2];
            two[0] = k[i].t - 1;
            two[1] = k[i].t;
            CHECK_OK(fc_window(&p, two, 2, v, 8, out, 12, &e));
            CHECK_FLOAT(out[4], (float)k[i].tod);
            CHECK_FLOAT(out[5], k[i].dow);
        }
    }
    /* The epoch (00:00, Thursday) as a row: T = 2, W = 2 over t = -1? Not allowed; the
     * first row is at the W-th sample, so check 1970-01-01T00:00Z via a day later. */
    {
        int64_t two[2] = {86400 - 1, 86400};
        CHECK_OK(fc_window(&p, two, 2, v, 8, out, 12, &e));
        CHECK(fbits(out[4]) == 0u);
        CHECK_FLOAT(out[5], 4.0f); /* Friday 1970-01-02T00:00Z */
    }

    /* VM schema: the target is net_rx + net_tx, in channel order. */
    fc_params_init(&p, FC_SCHEMA_VM);
    p.seq_len = 2;
    p.stat_window = 3;
    for (i = 0; i < 4; i++) {
        ts[i] = 4 * 86400 + (int64_t)i * 300;
        for (c = 0; c < 6; c++) v[i * 6 + c] = (double)(c + 1);
        v[i * 6 + 4] = 0.1 * (double)(i + 1);
        v[i * 6 + 5] = 0.2 * (double)(i + 1);
    }
    CHECK(fc_window_output_len(&p) == 28);
    CHECK_OK(fc_window(&p, ts, 4, v, 24, out, 28, &e));
    {
        double y[4];
        for (i = 0; i < 4; i++) y[i] = v[i * 6 + 4] + v[i * 6 + 5];
        /* step 0 (samples 0..2), step 1 (samples 1..3) */
        CHECK_FLOAT(out[0], 1.0f);
        CHECK_FLOAT(out[5], (float)v[2 * 6 + 5]);
        CHECK_FLOAT(out[6], (float)(600.0 / 86400.0)); /* 00:10 */
        CHECK_FLOAT(out[7], 0.0f);                     /* Monday */
        CHECK_FLOAT(out[8], (float)(((y[0] + y[1]) + y[2]) / 3.0));
        CHECK_FLOAT(out[10], (float)y[0]);
        CHECK_FLOAT(out[11], (float)y[2]);
        CHECK_FLOAT(out[14 + 6], (float)(900.0 / 86400.0));
        CHECK_FLOAT(out[14 + 8], (float)(((y[1] + y[2]) + y[3]) / 3.0));
        CHECK_FLOAT(out[14 + 10], (float)y[1]);
        CHECK_FLOAT(out[14 + 11], (float)y[3]);
        {
            double m = ((y[1] + y[2]) + y[3]) / 3.0, d0 = y[1] - m, d1 = y[2] - m, d2 = y[3] - m;
            double sq = ((0.0 + d0 * d0) + d1 * d1) + d2 * d2;
            double cross = ((0.0 + -1.0 * d0) + 0.0 * d1) + 1.0 * d2;
            CHECK_FLOAT(out[14 + 9], (float)sqrt(sq / 3.0));
            CHECK_FLOAT(out[14 + 12], (float)(cross / 2.0)); /* den = (W-1)W(W+1)/12 = 2 */
        }
    }
}

static void test_status_strings(void)
{
    static const char *const names[FC_STATUS_COUNT] = {
        "FC_OK",
        "FC_ERR_NULL_POINTER",
        "FC_ERR_UNKNOWN_SCHEMA",
        "FC_ERR_BAD_PARAMS",
        "FC_ERR_LENGTH",
        "FC_ERR_OUTPUT_SIZE",
        "FC_ERR_MISSING",
        "FC_ERR_INFINITE",
        "FC_ERR_NEGATIVE",
        "FC_ERR_TIME_ORDER",
        "FC_ERR_TIME_GAP",
        "FC_ERR_RANGE",
        "FC_ERR_TIME_RANGE",
        "FC_ERR_ZERO_CAPACITY",
        "FC_ERR_EDGE_ORDER",
        "FC_ERR_EMPTY",
        "FC_ERR_CONSTANT",
        "FC_ERR_TREE_UNSUPPORTED",
        "FC_ERR_TREE_SHAPE",
    };
    int s, s2;
    current = "status strings";
    CHECK(FC_STATUS_COUNT == FC_ERR_TREE_SHAPE + 1);
    for (s = 0; s < FC_STATUS_COUNT; s++) {
        const char *m = fc_status_message((fc_status)s);
        CHECK(str_eq(fc_status_name((fc_status)s), names[s]));
        CHECK(m != NULL && strlen(m) > 5);
        for (s2 = 0; s2 < s; s2++) CHECK(!str_eq(m, fc_status_message((fc_status)s2)));
    }
    CHECK(str_eq(fc_status_name((fc_status)FC_STATUS_COUNT), "FC_ERR_UNKNOWN_STATUS"));
    CHECK(str_eq(fc_status_name((fc_status)999), "FC_ERR_UNKNOWN_STATUS"));
    CHECK(str_eq(fc_status_name((fc_status)-1), "FC_ERR_UNKNOWN_STATUS"));
    CHECK(fc_status_message((fc_status)FC_STATUS_COUNT) != NULL);
    CHECK(fc_status_message((fc_status)-1) != NULL);
    CHECK(fc_status_message((fc_status)12345) != NULL);
    /* The messages of the common input errors name their fix. */
    CHECK(strstr(fc_status_message(FC_ERR_TIME_RANGE), "millisecond") != NULL);
    CHECK(strstr(fc_status_message(FC_ERR_TIME_GAP), "fc_resample") != NULL);
}

/* Negative timestamps after a valid first sample are outside 0 .. FC_TS_MAX: TIME_RANGE,
 * as for a negative first sample or one past 9999 at any index (the v1.0.0 core answered
 * TIME_GAP and computed ts[i] - ts[i - 1] with signed overflow for INT64_MIN; fixed in
 * b999aae). INT64_MIN also runs under UBSan in the sanitizer build. */
static void test_negative_timestamp_later(void)
{
    static const int64_t bad[] = {-300, -1, INT64_MIN + 1, INT64_MIN};
    fc_params p;
    fc_error e;
    trace t;
    float out[24];
    const size_t need = 4, C = 4;
    size_t k;
    current = "negative timestamp after the first sample";
    fc_params_init(&p, FC_SCHEMA_LINK);
    p.seq_len = 2;
    p.stat_window = 3;
    t = make_trace(&p, need, 1700000000);
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int64_t saved = t.ts[2];
        t.ts[2] = bad[k];
        CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, 24, &e), &e, FC_ERR_TIME_RANGE,
                  2, -1, -1);
        t.ts[2] = saved;
        t.ts[3] = bad[k];
        CHECK_ERR(fc_window(&p, t.ts, need, t.v, need * C, out, 24, &e), &e, FC_ERR_TIME_RANGE,
                  3, -1, -1);
        t.ts[3] = saved + 300;
    }
    free_trace(&t);
}

/* Long traces: stat windows up to FC_MAX_STAT_WINDOW and runs longer than any buffer the
 * core keeps; every window still equals fc_window on its samples. */
static void test_long_windows(void)
{
    static const size_t strides[] = {1, 7, 1500, 5000};
    fc_params p;
    fc_error e;
    trace t;
    size_t si, k, n = 3 * FC_MAX_STAT_WINDOW + 123, C = 4, F = 12;
    current = "long traces";
    fc_params_init(&p, FC_SCHEMA_LINK);
    p.seq_len = 3;
    p.stat_window = FC_MAX_STAT_WINDOW;
    p.step_seconds = 60;
    t = make_trace(&p, n, 1704067200);
    for (k = 0; k < n * C; k++) t.v[k] = t.v[k] * 3.7 + (double)((k * 2654435761u) % 1000) / 7.0;
    for (si = 0; si < sizeof strides / sizeof strides[0]; si++) {
        size_t stride = strides[si], nw = 0, per = p.seq_len * F;
        size_t need = fc_window_input_len(&p), cnt = fc_windows_count(&p, n, stride);
        float *all = xcalloc(cnt * per, sizeof *all), one[36];
        CHECK(cnt == (n - need) / stride + 1);
        CHECK_OK(fc_windows(&p, t.ts, n, t.v, n * C, stride, all, cnt * per, &nw, &e));
        CHECK(nw == cnt);
        for (k = 0; k < nw; k++) {
            size_t off = k * stride;
            if (!(k < 3 || k + 3 >= nw || k % 97 == 0)) continue;
            CHECK_OK(fc_window(&p, t.ts + off, need, t.v + off * C, need * C, one, per, &e));
            if (!CHECK(memcmp(one, all + k * per, per * sizeof(float)) == 0))
                printf("  window %zu, stride %zu differs\n", k, stride);
        }
        free(all);
    }
    /* A huge value deep in a long trace: FC_ERR_RANGE names that sample. */
    t.v[(n - 5) * C + 1] = 1e39;
    CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 1, NULL, 0, &si, &e), &e, FC_ERR_OUTPUT_SIZE,
              -1, -1, -1);
    {
        size_t cnt = fc_windows_count(&p, n, 1), nw = 0;
        float *all = xcalloc(cnt * 36, sizeof *all);
        CHECK_ERR(fc_windows(&p, t.ts, n, t.v, n * C, 1, all, cnt * 36, &nw, &e), &e,
                  FC_ERR_RANGE, (int64_t)(n - 5), -1, 1);
        free(all);
    }
    free_trace(&t);
}

/* ---- placement factors -------------------------------------------------------------- */

#define PR FC_PLACE_RESOURCES
#define PF FC_PLACE_FACTORS
#define PHI FC_PLACE_HOST_INFO
#define PVI FC_PLACE_VM_INFO

/* Index of a factor by name (-1 if absent). */
static int pf(const char *name)
{
    size_t f;
    for (f = 0; f < PF; f++)
        if (str_eq(fc_place_factor_name(f), name)) return (int)f;
    printf("FAIL no placement factor %s\n", name);
    n_fail++;
    return 0;
}

/* Index of an input column by name. */
static int32_t pcol(const char *name)
{
    size_t c;
    for (c = 0; c < FC_PLACE_COLUMNS; c++)
        if (str_eq(fc_place_column_name(c), name)) return (int32_t)c;
    printf("FAIL no placement column %s\n", name);
    n_fail++;
    return 0;
}

/* A placement problem with H history samples and n hosts, every value valid and exact in
 * binary (small integers and quarters). */
typedef struct place_in {
    fc_place_params p;
    size_t H, n;
    double req[PR], vinfo[PVI];
    double *hist, *cap, *alloc, *usage, *hinfo;
} place_in;

static place_in make_place(size_t H, size_t n)
{
    place_in in;
    size_t h, t, r, c;
    fc_place_params_init(&in.p);
    in.p.history = (uint32_t)H;
    in.H = H;
    in.n = n;
    for (r = 0; r < PR; r++) in.req[r] = 100.0 * (double)(r + 1);
    in.vinfo[0] = 4.0;
    in.vinfo[1] = 2.0;
    in.hist = xcalloc(H * PR, sizeof(double));
    in.cap = xcalloc(n * PR, sizeof(double));
    in.alloc = xcalloc(n * PR, sizeof(double));
    in.usage = xcalloc(n * H * PR, sizeof(double));
    in.hinfo = xcalloc(n * PHI, sizeof(double));
    for (t = 0; t < H; t++)
        for (r = 0; r < PR; r++) in.hist[t * PR + r] = 10.0 * (double)(r + 1) + 0.25 * (double)((t * 5 + r) % 7);
    for (h = 0; h < n; h++) {
        for (r = 0; r < PR; r++) {
            in.cap[h * PR + r] = 4096.0 * (double)(r + 1 + h % 3);
            in.alloc[h * PR + r] = 512.0 * (double)((h + r) % 5);
            for (t = 0; t < H; t++)
                in.usage[(h * H + t) * PR + r] = 64.0 * (double)((h + r) % 5) + 0.5 * (double)((t * 3 + h + r) % 9);
        }
        for (c = 0; c < PHI; c++) in.hinfo[h * PHI + c] = (double)((h + c) % 4);
        in.hinfo[h * PHI + 8] = 10000.0; /* nic_mbps */
    }
    return in;
}

static void free_place(place_in *in)
{
    free(in->hist);
    free(in->cap);
    free(in->alloc);
    free(in->usage);
    free(in->hinfo);
}

static fc_status run_place(const place_in *in, float *out, size_t out_len, fc_error *err)
{
    return fc_place_factors(&in->p, in->req, PR, in->hist, in->H * PR, in->vinfo, PVI, in->n,
                            in->cap, in->n * PR, in->alloc, in->n * PR, in->usage,
                            in->n * in->H * PR, in->hinfo, in->n * PHI, out, out_len, err);
}

static void test_place_names(void)
{
    size_t f, g, c;
    uint64_t h = 0, want = 0xcbf29ce484222325ULL;
    char major[16];
    current = "placement names and hash";
    CHECK(fc_place_factor_count() == PF);
    CHECK(PF >= 100);
    CHECK(fc_place_output_len(0) == 0);
    CHECK(fc_place_output_len(3) == 3 * PF);
    CHECK(fc_place_output_len(SIZE_MAX / PF + 1) == 0);
    for (f = 0; f < PF; f++) {
        const char *n = fc_place_factor_name(f);
        int unique = 1, plain = 1;
        if (!CHECK(n != NULL && strlen(n) > 2)) continue;
        for (g = 0; g < f; g++) unique = unique && !str_eq(n, fc_place_factor_name(g));
        for (c = 0; n[c]; c++)
            plain = plain && ((n[c] >= 'a' && n[c] <= 'z') || (n[c] >= '0' && n[c] <= '9') || n[c] == '_');
        if (!CHECK(unique && plain)) printf("  factor %zu: %s\n", f, n);
    }
    CHECK(fc_place_factor_name(PF) == NULL);
    CHECK(fc_place_factor_name(SIZE_MAX) == NULL);
    CHECK(str_eq(fc_place_resource_name(0), "cpu_mhz"));
    CHECK(str_eq(fc_place_resource_name(1), "mem_mb"));
    CHECK(str_eq(fc_place_resource_name(2), "disk_kbs"));
    CHECK(str_eq(fc_place_resource_name(3), "net_kbs"));
    CHECK(fc_place_resource_name(PR) == NULL);
    CHECK(str_eq(fc_place_vm_info_name(0), "group_size"));
    CHECK(str_eq(fc_place_vm_info_name(1), "peers"));
    CHECK(fc_place_vm_info_name(PVI) == NULL);
    CHECK(str_eq(fc_place_host_info_name(0), "vm_count"));
    CHECK(str_eq(fc_place_host_info_name(8), "nic_mbps"));
    CHECK(str_eq(fc_place_host_info_name(12), "domain_hosts"));
    CHECK(fc_place_host_info_name(PHI) == NULL);
    CHECK(str_eq(fc_place_column_name(0), "vm_request.cpu_mhz"));
    CHECK(str_eq(fc_place_column_name(7), "vm_history.net_kbs"));
    CHECK(str_eq(fc_place_column_name(9), "vm_info.peers"));
    CHECK(str_eq(fc_place_column_name(19), "host_usage.mem_mb"));
    CHECK(str_eq(fc_place_column_name(FC_PLACE_COLUMNS - 1), "host_info.domain_hosts"));
    CHECK(fc_place_column_name(FC_PLACE_COLUMNS) == NULL);
    /* groups: the VM, the host, after placement (per resource), across, context */
    CHECK(str_eq(fc_place_factor_name(0), "vm_request_cpu"));
    CHECK(str_eq(fc_place_factor_name(27), "vm_peak_to_request_net"));
    CHECK(str_eq(fc_place_factor_name(28), "host_capacity_cpu"));
    CHECK(str_eq(fc_place_factor_name(64), "request_share_cpu"));
    CHECK(str_eq(fc_place_factor_name(111), "demand_corr_net"));
    CHECK(str_eq(fc_place_factor_name(112), "alloc_util_mean_after"));
    CHECK(str_eq(fc_place_factor_name(128), "vm_count"));
    CHECK(str_eq(fc_place_factor_name(PF - 1), "domain_hosts"));

    CHECK(fc_place_hash(NULL) == FC_ERR_NULL_POINTER);
    CHECK(fc_place_hash(&h) == FC_OK);
    CHECK(h == FC_PLACE_HASH);
    /* recomputed from the documented text */
    snprintf(major, sizeof major, "%d", FC_VERSION_MAJOR);
    want = fnv1a(fnv1a(fnv1a(want, "dwcp-fc/"), major), ";place;resources=");
    for (c = 0; c < PR; c++) want = fnv1a(fnv1a(want, c ? "+" : ""), fc_place_resource_name(c));
    want = fnv1a(want, ";vm_info=");
    for (c = 0; c < PVI; c++) want = fnv1a(fnv1a(want, c ? "+" : ""), fc_place_vm_info_name(c));
    want = fnv1a(want, ";host_info=");
    for (c = 0; c < PHI; c++) want = fnv1a(fnv1a(want, c ? "+" : ""), fc_place_host_info_name(c));
    for (f = 0; f < PF; f++) want = fnv1a(fnv1a(want, ";f32:"), fc_place_factor_name(f));
    CHECK(want == FC_PLACE_HASH);
}

static void test_place_params(void)
{
    fc_place_params p, q;
    fc_error e;
    current = "placement params";
    CHECK(fc_place_params_init(NULL) == FC_ERR_NULL_POINTER);
    CHECK_OK(fc_place_params_init(&p));
    CHECK(p.history == 12 && p.step_seconds == 300);
    CHECK_OK(fc_place_params_check(&p, &e));
    CHECK_ERR(fc_place_params_check(NULL, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
#define BAD_PLACE(field, value)                                                                \
    do {                                                                                       \
        q = p;                                                                                 \
        q.field = (value);                                                                     \
        CHECK_ERR(fc_place_params_check(&q, &e), &e, FC_ERR_BAD_PARAMS, -1, -1, -1);           \
        CHECK(fc_place_params_check(&q, NULL) == FC_ERR_BAD_PARAMS);                           \
    } while (0)
    BAD_PLACE(history, 0);
    BAD_PLACE(history, 1);
    BAD_PLACE(history, FC_MAX_STAT_WINDOW + 1);
    BAD_PLACE(history, UINT32_MAX);
    BAD_PLACE(step_seconds, 0);
    BAD_PLACE(step_seconds, -300);
    BAD_PLACE(step_seconds, 86401);
    BAD_PLACE(step_seconds, INT64_MIN);
#undef BAD_PLACE
    q = p;
    q.history = 2;
    q.step_seconds = 1;
    CHECK_OK(fc_place_params_check(&q, &e));
    q.history = FC_MAX_STAT_WINDOW;
    q.step_seconds = 86400;
    CHECK_OK(fc_place_params_check(&q, &e));
}

/* Every status of fc_place_factors with its fc_error location. */
static void test_place_status(void)
{
    place_in in = make_place(12, 3);
    const size_t H = 12, n = 3, need = 3 * PF;
    float *out = xcalloc(need + 8, sizeof(float));
    fc_error e;
    fc_place_params bad;
    double keep;
    size_t k;
    current = "placement status";

    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_OK, -1, -1, -1);
    CHECK_OK(run_place(&in, out, need, NULL));
    bad = in.p;
    bad.history = 1;
    CHECK_ERR(fc_place_factors(&bad, in.req, PR, in.hist, PR, in.vinfo, PVI, n, in.cap, n * PR,
                               in.alloc, n * PR, in.usage, n * PR, in.hinfo, n * PHI, out, need, &e),
              &e, FC_ERR_BAD_PARAMS, -1, -1, -1);
    CHECK_ERR(fc_place_factors(NULL, in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR,
                               in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need, &e),
              &e, FC_ERR_NULL_POINTER, -1, -1, -1);

    /* NULL with a length: the array's first column */
#define PLACE_CALL(a0, l0, a1, l1, a2, l2, nh, a3, l3, a4, l4, a5, l5, a6, l6, o, ol)             \
    fc_place_factors(&in.p, a0, l0, a1, l1, a2, l2, nh, a3, l3, a4, l4, a5, l5, a6, l6, o, ol, &e)
    CHECK_ERR(PLACE_CALL(NULL, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 0, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, NULL, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 4, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, NULL, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 8, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, NULL, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 10, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, NULL, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 14, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, NULL, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 18, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, NULL, n * PHI, out, need), &e, FC_ERR_NULL_POINTER, -1, 22, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, NULL, need), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
    /* NULL with length 0 is judged by the length */
    CHECK_ERR(PLACE_CALL(NULL, 0, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 0, -1);
    /* lengths, one array at a time, one too short and one too long */
    for (k = 0; k < 2; k++) {
        const size_t d = k == 0 ? (size_t)-1 : 1; /* wraps: length - 1 or + 1 */
        CHECK_ERR(PLACE_CALL(in.req, PR + d, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 0, -1);
        CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR + d, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 4, -1);
        CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI + d, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 8, -1);
        CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR + d, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 10, -1);
        CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR + d, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 14, -1);
        CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR + d, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 18, -1);
        CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI + d, out, need), &e, FC_ERR_LENGTH, -1, 22, -1);
    }
    /* n_hosts that disagrees with the host arrays, or overflows the lengths */
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, n - 1, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 10, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, SIZE_MAX, in.cap, n * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 10, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, SIZE_MAX / (H * PR) + 1, in.cap, (SIZE_MAX / (H * PR) + 1) * PR, in.alloc, n * PR, in.usage, n * H * PR, in.hinfo, n * PHI, out, need), &e, FC_ERR_LENGTH, -1, 10, -1);
    /* output: too small (by one), or NULL with a capacity */
    CHECK_ERR(run_place(&in, out, need - 1, &e), &e, FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(run_place(&in, NULL, 0, &e), &e, FC_ERR_OUTPUT_SIZE, -1, -1, -1);
    CHECK_ERR(run_place(&in, NULL, need, &e), &e, FC_ERR_NULL_POINTER, -1, -1, -1);
    /* zero hosts: every host array may be NULL, nothing is written */
    out[0] = -77.0f;
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0), &e, FC_OK, -1, -1, -1);
    CHECK_ERR(PLACE_CALL(in.req, PR, in.hist, H * PR, in.vinfo, PVI, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, out, 5), &e, FC_OK, -1, -1, -1);
    CHECK(fbits(out[0]) == fbits(-77.0f));
    /* a larger buffer: exactly n * F floats written */
    for (k = 0; k < need + 8; k++) out[k] = -77.0f;
    CHECK_OK(run_place(&in, out, need + 8, &e));
    CHECK(fbits(out[need]) == fbits(-77.0f) && fbits(out[need + 7]) == fbits(-77.0f));
#undef PLACE_CALL

    /* values: NaN, +-Inf, negative in every array; host index, column */
#define BAD_VALUE(arr, at, host, column)                                                       \
    do {                                                                                       \
        static const double bads[4] = {0.0, 0.0, 0.0, -1e-300};                                \
        static const fc_status want[4] = {FC_ERR_MISSING, FC_ERR_INFINITE, FC_ERR_INFINITE,    \
                                          FC_ERR_NEGATIVE};                                    \
        int b_;                                                                                \
        keep = (arr)[at];                                                                      \
        for (b_ = 0; b_ < 4; b_++) {                                                           \
            (arr)[at] = b_ == 0 ? NAN : b_ == 1 ? INFINITY : b_ == 2 ? -INFINITY : bads[b_];   \
            CHECK_ERR(run_place(&in, out, need, &e), &e, want[b_], host, pcol(column), -1);    \
        }                                                                                      \
        (arr)[at] = -0.0; /* -0.0 is not negative (except as a capacity) */                    \
        CHECK(run_place(&in, out, need, &e) == (in.cap == (arr) ? FC_ERR_ZERO_CAPACITY : FC_OK)); \
        (arr)[at] = keep;                                                                      \
    } while (0)
    BAD_VALUE(in.req, 2, -1, "vm_request.disk_kbs");
    BAD_VALUE(in.hist, 7 * PR + 3, -1, "vm_history.net_kbs");
    BAD_VALUE(in.vinfo, 1, -1, "vm_info.peers");
    BAD_VALUE(in.cap, 1 * PR + 0, 1, "host_capacity.cpu_mhz");
    BAD_VALUE(in.alloc, 2 * PR + 1, 2, "host_allocated.mem_mb");
    BAD_VALUE(in.usage, (2 * H + 11) * PR + 2, 2, "host_usage.disk_kbs");
    BAD_VALUE(in.hinfo, 0 * PHI + 12, 0, "host_info.domain_hosts");
    BAD_VALUE(in.hinfo, 1 * PHI + 0, 1, "host_info.vm_count");
#undef BAD_VALUE
    keep = in.cap[2 * PR + 3];
    in.cap[2 * PR + 3] = 0.0;
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_ZERO_CAPACITY, 2, pcol("host_capacity.net_kbs"), -1);
    /* the first bad value wins: VM before hosts, host 1 before host 2, and within a host
     * capacity, allocated, usage, info; values are checked before the output buffer */
    in.usage[(1 * H + 3) * PR + 1] = NAN;
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_MISSING, 1, pcol("host_usage.mem_mb"), -1);
    CHECK_ERR(run_place(&in, out, 0, &e), &e, FC_ERR_MISSING, 1, pcol("host_usage.mem_mb"), -1);
    in.alloc[1 * PR + 3] = -5.0;
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_NEGATIVE, 1, pcol("host_allocated.net_kbs"), -1);
    in.hist[0] = INFINITY;
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_INFINITE, -1, pcol("vm_history.cpu_mhz"), -1);
    free_place(&in);

    /* FC_ERR_RANGE: a factor beyond float32 names the host and the first such factor */
    in = make_place(12, 3);
    in.usage[(1 * H + 5) * PR + 2] = 1e300;
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_RANGE, 1, -1, pf("host_mean_disk"));
    free_place(&in);
    in = make_place(12, 3);
    in.req[1] = 1e39; /* a VM factor: reported on the first row */
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_RANGE, 0, -1, pf("vm_request_mem"));
    in.req[1] = 3.4e38; /* fits float32 */
    in.cap[1 * PR + 1] = 1e-300; /* host 1: allocated 1024 / 1e-300 overflows float32 */
    CHECK_ERR(run_place(&in, out, need, &e), &e, FC_ERR_RANGE, 1, -1, pf("host_allocated_ratio_mem"));
    free_place(&in);
    free(out);
}

/* Values of factors on inputs whose results are exact in binary. */
static void test_place_values(void)
{
    place_in in = make_place(4, 2);
    float out[2 * PF];
    fc_error e;
    size_t t, r;
    current = "placement values";
    in.p.step_seconds = 300;
    for (r = 0; r < PR; r++) {
        in.req[r] = 8.0;
        for (t = 0; t < 4; t++) {
            in.hist[t * PR + r] = (double)t;                       /* 0 1 2 3: slope 1/step */
            in.usage[(0 * 4 + t) * PR + r] = 10.0 + 2.0 * (double)t; /* same shape: corr 1 */
            in.usage[(1 * 4 + t) * PR + r] = 10.0 - 2.0 * (double)t; /* opposite: corr -1 */
        }
        in.cap[0 * PR + r] = 64.0;
        in.cap[1 * PR + r] = 16.0;
        in.alloc[0 * PR + r] = 16.0;
        in.alloc[1 * PR + r] = 12.0;
    }
    in.usage[(0 * 4 + 2) * PR + 3] = 40.0; /* host 0 net: 10 12 40 16 */
    in.hinfo[0 * PHI + 0] = 0.0;           /* vm_count 0: empty */
    in.hinfo[1 * PHI + 0] = 3.0;
    in.hinfo[0 * PHI + 2] = 1.0;           /* group_in_domain */
    in.hinfo[0 * PHI + 5] = 1.0;           /* peers_on_host */
    in.hinfo[0 * PHI + 7] = 2.0;           /* net_distance */
    in.hinfo[0 * PHI + 8] = 1000.0;        /* nic_mbps */
    in.hinfo[1 * PHI + 8] = 0.0;           /* no NIC figure: 0 */
    in.hinfo[0 * PHI + 10] = 3.0;          /* cost */
    CHECK_OK(run_place(&in, out, 2 * PF, &e));
#define AT(h, name) out[(h) * PF + (size_t)pf(name)]
    CHECK_FLOAT(AT(0, "vm_request_cpu"), 8.0f);
    CHECK_FLOAT(AT(1, "vm_mean_mem"), 1.5f);
    CHECK_FLOAT(AT(0, "vm_peak_disk"), 3.0f);
    CHECK_FLOAT(AT(0, "vm_last_net"), 3.0f);
    CHECK_FLOAT(AT(0, "vm_std_cpu"), (float)sqrt(1.25));
    CHECK_FLOAT(AT(0, "vm_trend_cpu"), 12.0f); /* 1 per 300 s step = 12 per hour */
    CHECK_FLOAT(AT(0, "vm_peak_to_request_cpu"), 0.375f);
    CHECK_FLOAT(AT(0, "host_capacity_mem"), 64.0f);
    CHECK_FLOAT(AT(1, "host_allocated_ratio_cpu"), 0.75f);
    CHECK_FLOAT(AT(0, "host_mean_cpu"), 13.0f);
    CHECK_FLOAT(AT(1, "host_peak_cpu"), 10.0f);
    CHECK_FLOAT(AT(1, "host_last_cpu"), 4.0f);
    CHECK_FLOAT(AT(0, "host_trend_cpu"), 24.0f);
    CHECK_FLOAT(AT(1, "host_trend_mem"), -24.0f);
    CHECK_FLOAT(AT(1, "host_util_cpu"), 0.4375f); /* 7 / 16 */
    CHECK_FLOAT(AT(0, "request_share_cpu"), 0.125f);
    CHECK_FLOAT(AT(0, "alloc_ratio_after_cpu"), 0.375f);
    CHECK_FLOAT(AT(1, "alloc_ratio_after_cpu"), 1.25f);
    CHECK_FLOAT(AT(0, "mean_util_after_cpu"), 0.2265625f); /* (13 + 1.5) / 64 */
    CHECK_FLOAT(AT(0, "peak_util_after_cpu"), 0.296875f);  /* (16 + 3) / 64 */
    CHECK_FLOAT(AT(0, "joint_peak_util_after_cpu"), 0.296875f); /* max(10 13 16 19) / 64 */
    CHECK_FLOAT(AT(0, "joint_peak_util_after_net"), 0.65625f);   /* max(10 13 42 19) / 64 */
    CHECK_FLOAT(AT(0, "peak_util_after_net"), 0.671875f);        /* (40 + 3) / 64 */
    CHECK_FLOAT(AT(0, "peak_diversity_cpu"), 1.0f);
    CHECK_FLOAT(AT(1, "peak_diversity_cpu"), 1.3f);          /* (10 + 3) / max(10 9 8 7) */
    CHECK_FLOAT(AT(0, "headroom_after_cpu"), 40.0f);
    CHECK_FLOAT(AT(1, "headroom_after_cpu"), -4.0f);
    CHECK_FLOAT(AT(0, "peak_headroom_after_cpu"), 45.0f);
    CHECK_FLOAT(AT(0, "overcommit_after_cpu"), 0.0f);
    CHECK_FLOAT(AT(1, "overcommit_after_cpu"), 0.25f);
    CHECK_FLOAT(AT(0, "overload_frac_after_cpu"), 0.0f);
    CHECK_FLOAT(AT(0, "demand_corr_cpu"), 1.0f);
    CHECK_FLOAT(AT(1, "demand_corr_cpu"), -1.0f);
    CHECK_FLOAT(AT(0, "alloc_util_mean_after"), 0.375f);
    CHECK_FLOAT(AT(0, "alloc_util_std_after"), 0.0f);
    CHECK_FLOAT(AT(1, "alloc_util_max_after"), 1.25f);
    CHECK_FLOAT(AT(0, "tetris_alignment"), 0.375f);         /* 4 x 0.125 x 0.75 */
    CHECK_FLOAT(AT(0, "cosine_alignment"), 1.0f);
    CHECK_FLOAT(AT(0, "free_l2_before"), 1.5f);            /* sqrt(4 x 0.75^2) */
    CHECK_FLOAT(AT(0, "free_l2_after"), 1.25f);            /* sqrt(4 x 0.625^2) */
    CHECK_FLOAT(AT(1, "free_l2_after"), 0.0f);
    CHECK_FLOAT(AT(1, "free_min_after"), 0.0f);
    CHECK_FLOAT(AT(0, "stranded_after"), 0.0f);
    CHECK_FLOAT(AT(0, "dominant_share"), 0.125f);
    CHECK_FLOAT(AT(0, "dominant_resource"), 0.0f);         /* ties: the first resource */
    CHECK_FLOAT(AT(1, "resources_over_after"), 4.0f);
    CHECK_FLOAT(AT(0, "host_empty"), 1.0f);
    CHECK_FLOAT(AT(1, "host_empty"), 0.0f);
    CHECK_FLOAT(AT(1, "vm_count_after"), 4.0f);
    CHECK_FLOAT(AT(0, "group_domain_frac"), 0.25f);
    CHECK_FLOAT(AT(0, "group_exposure_after"), 0.4f);
    CHECK_FLOAT(AT(0, "peers_on_host_frac"), 0.5f);
    CHECK_FLOAT(AT(0, "net_traffic_hops"), 3.0f);          /* mean net 1.5 x 2 hops */
    CHECK_FLOAT(AT(0, "nic_util_vm"), (float)((3.0 * 0.008) / 1000.0));
    CHECK_FLOAT(AT(1, "nic_util_vm"), 0.0f);
    CHECK_FLOAT(AT(1, "nic_util_after"), 0.0f);
    CHECK_FLOAT(AT(0, "cost_per_vm_after"), 3.0f);

    /* zero denominators and constant histories */
    for (r = 0; r < PR; r++) {
        in.req[r] = 0.0;
        for (t = 0; t < 4; t++) {
            in.hist[t * PR + r] = 0.1; /* the lanes' mean of 0.1s is not 0.1 */
            in.usage[(1 * 4 + t) * PR + r] = 0.0;
        }
    }
    in.vinfo[0] = 0.0;
    in.vinfo[1] = 0.0;
    CHECK_OK(run_place(&in, out, 2 * PF, &e));
    CHECK_FLOAT(AT(0, "vm_mean_cpu"), 0.1f);
    CHECK_FLOAT(AT(0, "vm_std_cpu"), 0.0f);
    CHECK_FLOAT(AT(0, "vm_trend_cpu"), 0.0f);
    CHECK_FLOAT(AT(0, "demand_corr_cpu"), 0.0f);
    CHECK_FLOAT(AT(1, "host_std_mem"), 0.0f);
    CHECK_FLOAT(AT(0, "vm_peak_to_request_cpu"), 0.0f);
    CHECK_FLOAT(AT(0, "cosine_alignment"), 0.0f);
    CHECK_FLOAT(AT(0, "dominant_share"), 0.0f);
    CHECK_FLOAT(AT(0, "group_domain_frac"), 0.0f);
    CHECK_FLOAT(AT(0, "group_exposure_after"), 2.0f); /* (1 + 1) / (0 + 1) */
    CHECK_FLOAT(AT(0, "peers_in_domain_frac"), 0.0f);
    for (t = 0; t < 4; t++) in.hist[t * PR + 2] = 0.0;
    CHECK_OK(run_place(&in, out, 2 * PF, &e));
    CHECK_FLOAT(AT(1, "peak_diversity_disk"), 1.0f); /* no demand at all: 1 */
    for (t = 0, r = 0; r < 2 * PF; r++) t += !isfinite(out[r]);
    CHECK(t == 0);
#undef AT
    free_place(&in);
}

/* Rows are independent: row h of a batch equals a call with host h alone; and fc_place_factors
 * is deterministic call to call. */
static void test_place_rows(void)
{
    place_in in = make_place(36, 17);
    const size_t H = 36, n = 17;
    float *all = xcalloc(n * PF, sizeof(float)), *again = xcalloc(n * PF, sizeof(float));
    float one[PF];
    fc_error e;
    size_t h, k;
    current = "placement rows";
    for (k = 0; k < H * PR; k++) in.hist[k] = in.hist[k] * 1.37 + (double)((k * 2654435761u) % 1000) / 7.0;
    for (k = 0; k < n * H * PR; k++) in.usage[k] = in.usage[k] * 3.1 + (double)((k * 40503u) % 977) / 3.0;
    CHECK_OK(run_place(&in, all, n * PF, &e));
    CHECK_OK(run_place(&in, again, n * PF, &e));
    CHECK(memcmp(all, again, n * PF * sizeof(float)) == 0);
    for (h = 0; h < n; h++) {
        CHECK_OK(fc_place_factors(&in.p, in.req, PR, in.hist, H * PR, in.vinfo, PVI, 1,
                                  in.cap + h * PR, PR, in.alloc + h * PR, PR,
                                  in.usage + h * H * PR, H * PR, in.hinfo + h * PHI, PHI, one, PF, &e));
        if (!CHECK(memcmp(one, all + h * PF, sizeof one) == 0)) printf("  host %zu differs\n", h);
    }
    for (h = 0, k = 0; k < n * PF; k++) h += !isfinite(all[k]);
    CHECK(h == 0);
    free(all);
    free(again);
    free_place(&in);
}

int main(void)
{
    test_version();
    test_schemas();
    test_params();
    test_window_status();
    test_windows_status();
    test_grid();
    test_resample();
    test_windows_equal_window();
    test_values();
    test_status_strings();
    test_long_windows();
    test_negative_timestamp_later();
    test_place_names();
    test_place_params();
    test_place_status();
    test_place_values();
    test_place_rows();
    return test_summary();
}
