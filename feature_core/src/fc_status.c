#include "fc_internal.h"

#include <float.h>
#include <math.h>

unsigned fc_version_number(void) { return FC_VERSION_NUMBER; }

const char *fc_version_string(void) { return FC_VERSION_STRING; }

static const char *const status_names[FC_STATUS_COUNT] = {
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

static const char *const status_messages[FC_STATUS_COUNT] = {
    "success",
    "a required pointer is NULL while its length is not 0",
    "unknown schema id; use FC_SCHEMA_VM, FC_SCHEMA_LINK or FC_SCHEMA_METRIC",
    "parameters out of range: seq_len 1..100000, stat_window 2..2048, step_seconds "
    "1..86400, fill_limit <= 100000, stride >= 1, every used center finite, every used "
    "scale finite and > 0; placement: history 2..2048, step_seconds 1..86400; drift: "
    "1..1024 bins, 1e-300 <= epsilon < 1; partition: 0 <= fec_overhead <= 8, max_streams "
    "1..1024, n_streams <= max_streams, requires_fec 0 or 1",
    "input lengths disagree or are too short: values must hold ts_len * channels numbers "
    "and a window exactly seq_len + stat_window - 1 samples; placement arrays must hold R, "
    "H*R, 2, n*R, n*R, n*H*R and n*13 numbers; drift reference and live counts need the "
    "same bins",
    "output buffer too small: size it with fc_window_output_len / fc_windows_count / "
    "fc_place_output_len (drift: n_bins + 1 edges, n values of scratch, n_edges - 1 "
    "counts)",
    "missing sample (NaN) inside the window: resample with fc_resample and drop windows "
    "that cover missing bins (placement inputs must be complete; drift never skips a NaN "
    "value: drop missing samples before binning)",
    "infinite value in the input: metrics must be finite",
    "negative value on a channel that cannot be negative (rates, percentages, counters "
    "after differencing, capacities, requests, counts, drift bin counts)",
    "timestamps are not strictly increasing: sort and resample with fc_resample",
    "timestamps are not exactly step_seconds apart: resample onto the grid with "
    "fc_resample",
    "a result does not fit float32 (or double) after normalisation: check center/scale "
    "or the input's magnitude (drift: ln of 0, or bin counts whose total overflows)",
    "timestamp outside 0 .. 253402300799 (1970-01-01 .. 9999-12-31 UTC): timestamps are "
    "Unix seconds, not milliseconds",
    "a host capacity is 0: every capacity must be > 0 (a host that does not offer a "
    "resource cannot take a VM; filter it out before computing placement factors)",
    "drift bin edges must be at least 2, finite and strictly ascending (build them with "
    "fc_drift_quantile_edges)",
    "nothing to compare: a drift histogram needs at least one value and a distribution at "
    "least one count above 0 (partition: size_bytes must be > 0 and at least one stream's "
    "forecast > 0 and >= min_bandwidth)",
    "the reference sample has a single distinct value, so it has no quantile bins: give "
    "the edges by hand or leave the feature out of drift monitoring",
    "a tree ensemble the core does not evaluate: it takes one target, aggregate SUM, "
    "post_transform NONE, nodes BRANCH_LEQ or LEAF, feature ids <= 65534, trees of at most "
    "65535 and ensembles of at most 16777215 nodes (score other models with ONNX Runtime)",
    "the tree arrays do not describe trees: every tree's nodes must be contiguous with unique "
    "node ids, every child id must be a node of the same tree, every node reached exactly "
    "once from its tree's first node, every leaf given exactly one weight of target 0",
};

const char *fc_status_name(fc_status status)
{
    if ((unsigned)status >= FC_STATUS_COUNT) return "FC_ERR_UNKNOWN_STATUS";
    return status_names[status];
}

const char *fc_status_message(fc_status status)
{
    if ((unsigned)status >= FC_STATUS_COUNT) return "unknown status code";
    return status_messages[status];
}

fc_status fc__fail(fc_error *err, fc_status status, int64_t index, int32_t channel,
                   int32_t feature)
{
    if (err != NULL) {
        err->status = status;
        err->index = index;
        err->channel = channel;
        err->feature = feature;
    }
    return status;
}

fc_status fc__check_sample(int64_t ts, const double *row, size_t n_channels, size_t index,
                           fc_error *err)
{
    size_t c;
    if (ts < 0 || ts > FC_TS_MAX)
        return fc__fail(err, FC_ERR_TIME_RANGE, (int64_t)index, -1, -1);
    for (c = 0; c < n_channels; c++) {
        double v = row[c];
        if (v >= 0.0 && v <= DBL_MAX) continue; /* the common case, one range test */
        if (isnan(v)) return fc__fail(err, FC_ERR_MISSING, (int64_t)index, (int32_t)c, -1);
        if (isinf(v)) return fc__fail(err, FC_ERR_INFINITE, (int64_t)index, (int32_t)c, -1);
        if (v < 0.0) return fc__fail(err, FC_ERR_NEGATIVE, (int64_t)index, (int32_t)c, -1);
    }
    return FC_OK;
}
