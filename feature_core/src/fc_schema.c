/* Schemas, feature names, the schema hash and parameter checks. */
#include "fc_internal.h"

#include <math.h>

static const char *const vm_channels[] = {
    "cpu_pct", "mem_pct", "disk_read_kbs", "disk_write_kbs", "net_rx_kbs", "net_tx_kbs",
};
static const size_t vm_target[] = {4, 5};

static const char *const link_channels[] = {
    "bandwidth_mbps", "latency_ms", "packet_loss_ratio", "jitter_ms",
};
static const size_t link_target[] = {0};

static const char *const metric_channels[] = {"value"};
static const size_t metric_target[] = {0};

static const fc_schema_def schemas[] = {
    {FC_SCHEMA_VM, "vm", 6, vm_channels, 2, vm_target, "net_rx_kbs+net_tx_kbs"},
    {FC_SCHEMA_LINK, "link", 4, link_channels, 1, link_target, "bandwidth_mbps"},
    {FC_SCHEMA_METRIC, "metric", 1, metric_channels, 1, metric_target, "value"},
};

/* Order of the features after the channels; fixed by the schema version. */
static const char *const derived_names[FC_TEMPORAL_FEATURES + FC_STAT_FEATURES] = {
    "time_of_day", "day_of_week",
    "target_mean", "target_std", "target_min", "target_max", "target_slope", "target_ewma",
};

const fc_schema_def *fc__schema(int32_t id)
{
    size_t i;
    for (i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        if ((int32_t)schemas[i].id == id) return &schemas[i];
    }
    return NULL;
}

const char *fc_schema_name(fc_schema_id schema)
{
    const fc_schema_def *s = fc__schema((int32_t)schema);
    return s ? s->name : NULL;
}

size_t fc_schema_channels(fc_schema_id schema)
{
    const fc_schema_def *s = fc__schema((int32_t)schema);
    return s ? s->n_channels : 0;
}

size_t fc_schema_features(fc_schema_id schema)
{
    const fc_schema_def *s = fc__schema((int32_t)schema);
    return s ? s->n_channels + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES : 0;
}

const char *fc_channel_name(fc_schema_id schema, size_t channel)
{
    const fc_schema_def *s = fc__schema((int32_t)schema);
    if (s == NULL || channel >= s->n_channels) return NULL;
    return s->channel_names[channel];
}

const char *fc_feature_name(fc_schema_id schema, size_t feature)
{
    const fc_schema_def *s = fc__schema((int32_t)schema);
    if (s == NULL) return NULL;
    if (feature < s->n_channels) return s->channel_names[feature];
    feature -= s->n_channels;
    if (feature >= FC_TEMPORAL_FEATURES + FC_STAT_FEATURES) return NULL;
    return derived_names[feature];
}

static uint64_t fnv1a(uint64_t h, const char *text)
{
    for (; *text != '\0'; text++) {
        h ^= (uint64_t)(unsigned char)*text;
        h *= 0x100000001b3ULL;
    }
    return h;
}

fc_status fc_schema_hash(fc_schema_id schema, uint64_t *hash)
{
    static const char *const major[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    const fc_schema_def *s = fc__schema((int32_t)schema);
    size_t f, n;
    uint64_t h = 0xcbf29ce484222325ULL;
    if (hash == NULL) return FC_ERR_NULL_POINTER;
    if (s == NULL) return FC_ERR_UNKNOWN_SCHEMA;
    h = fnv1a(h, "dwcp-fc/");
    h = fnv1a(h, major[FC_VERSION_MAJOR % 10]);
    h = fnv1a(h, ";");
    h = fnv1a(h, s->name);
    h = fnv1a(h, ";target=");
    h = fnv1a(h, s->target_expr);
    n = fc_schema_features(schema);
    for (f = 0; f < n; f++) {
        h = fnv1a(h, ";f32:");
        h = fnv1a(h, fc_feature_name(schema, f));
    }
    *hash = h;
    return FC_OK;
}

fc_status fc_params_init(fc_params *params, fc_schema_id schema)
{
    size_t f;
    if (params == NULL) return FC_ERR_NULL_POINTER;
    if (fc__schema((int32_t)schema) == NULL) return FC_ERR_UNKNOWN_SCHEMA;
    params->schema = (int32_t)schema;
    params->seq_len = 12;
    params->stat_window = 12;
    params->step_seconds = 300;
    params->fill_limit = 2;
    for (f = 0; f < FC_MAX_FEATURES; f++) {
        params->center[f] = 0.0;
        params->scale[f] = 1.0;
    }
    return FC_OK;
}

fc_status fc__check_params(const fc_params *params, const fc_schema_def **schema,
                           fc_error *err)
{
    const fc_schema_def *s = NULL;
    size_t f, n;
    if (params == NULL) return fc__fail(err, FC_ERR_NULL_POINTER, -1, -1, -1);
    s = fc__schema(params->schema);
    if (s == NULL) return fc__fail(err, FC_ERR_UNKNOWN_SCHEMA, -1, -1, -1);
    if (params->seq_len < 1 || params->seq_len > FC_MAX_LENGTH ||
        params->stat_window < 2 || params->stat_window > FC_MAX_STAT_WINDOW ||
        params->step_seconds < 1 || params->step_seconds > 86400 ||
        params->fill_limit > FC_MAX_LENGTH)
        return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, -1);
    n = s->n_channels + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES;
    for (f = 0; f < n; f++) {
        if (!isfinite(params->center[f]) || !isfinite(params->scale[f]) ||
            !(params->scale[f] > 0.0))
            return fc__fail(err, FC_ERR_BAD_PARAMS, -1, -1, (int32_t)f);
    }
    *schema = s;
    return FC_OK;
}

fc_status fc_params_check(const fc_params *params, fc_error *err)
{
    const fc_schema_def *s = NULL;
    return fc__check_params(params, &s, err);
}

size_t fc_window_input_len(const fc_params *params)
{
    const fc_schema_def *s = NULL;
    if (fc__check_params(params, &s, NULL) != FC_OK) return 0;
    return (size_t)params->seq_len + params->stat_window - 1;
}

size_t fc_window_output_len(const fc_params *params)
{
    const fc_schema_def *s = NULL;
    if (fc__check_params(params, &s, NULL) != FC_OK) return 0;
    return (size_t)params->seq_len * (s->n_channels + FC_TEMPORAL_FEATURES + FC_STAT_FEATURES);
}

size_t fc_windows_count(const fc_params *params, size_t n_samples, size_t stride)
{
    size_t need = fc_window_input_len(params);
    if (need == 0 || stride == 0 || n_samples < need) return 0;
    return (n_samples - need) / stride + 1;
}
