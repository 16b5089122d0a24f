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

#endif
