/* Internal helpers shared by the feature core's translation units. Not installed. */
#ifndef DWCP_FC_INTERNAL_H
#define DWCP_FC_INTERNAL_H

#if defined(__clang__)
/* GCC honours -std=c11 (no contraction); clang needs the pragma. Never fuse a*b+c. */
#pragma STDC FP_CONTRACT OFF
#endif

#include "feature_core.h"

#if defined(__GNUC__) && !defined(_WIN32)
#define FC_INTERNAL __attribute__((visibility("hidden")))
#else
#define FC_INTERNAL
#endif

/* Immutable description of a schema (static const tables, no mutable state). */
typedef struct fc_schema_def {
    fc_schema_id id;
    const char *name;
    size_t n_channels;
    const char *const *channel_names;
    size_t n_target;              /* channels summed, in this order, into the target */
    const size_t *target_channels;
    const char *target_expr;      /* "net_rx_kbs+net_tx_kbs", part of the schema hash */
} fc_schema_def;

FC_INTERNAL const fc_schema_def *fc__schema(int32_t id);

/* Records the first error (err may be NULL) and returns status. */
FC_INTERNAL fc_status fc__fail(fc_error *err, fc_status status, int64_t index,
                               int32_t channel, int32_t feature);

/* Checks one sample: timestamp in 0..FC_TS_MAX, every channel finite and >= 0. */
FC_INTERNAL fc_status fc__check_sample(int64_t ts, const double *row, size_t n_channels,
                                       size_t index, fc_error *err);

/* Checks params and sets *schema to the schema they name. */
FC_INTERNAL fc_status fc__check_params(const fc_params *params, const fc_schema_def **schema,
                                       fc_error *err);

/* Sums use 4 interleaved partial sums: term k goes to lane k mod 4 (in increasing k), and
 * the total is (lane0 + lane1) + (lane2 + lane3). One fixed order, with dependency chains a
 * quarter as long as a single running sum's (the step is latency-bound). Shared by the
 * window statistics and the placement factors. */
typedef struct lanes {
    double l0, l1, l2, l3;
} lanes;

static inline void lanes_add4(lanes *acc, double t0, double t1, double t2, double t3)
{
    acc->l0 = acc->l0 + t0;
    acc->l1 = acc->l1 + t1;
    acc->l2 = acc->l2 + t2;
    acc->l3 = acc->l3 + t3;
}

/* Adds term k of a sum whose terms 0..k-1 are already in (the tail after lanes_add4). */
static inline void lanes_add(lanes *acc, size_t k, double term)
{
    switch (k & 3) {
    case 0: acc->l0 = acc->l0 + term; break;
    case 1: acc->l1 = acc->l1 + term; break;
    case 2: acc->l2 = acc->l2 + term; break;
    default: acc->l3 = acc->l3 + term; break;
    }
}

static inline double lanes_total(const lanes *acc)
{
    return (acc->l0 + acc->l1) + (acc->l2 + acc->l3);
}

#endif
