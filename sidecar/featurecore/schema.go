package featurecore

// #include "feature_core.h"
import "C"

import "strconv"

// Schema names an ordered set of input channels, the target series the statistical
// features are computed on, and therefore the features of a step (fc_schema_id).
// Everything a Schema reports comes from the C core.
type Schema int32

const (
	// SchemaVM is Bitbrains VM demand: cpu_pct, mem_pct, disk_read_kbs, disk_write_kbs,
	// net_rx_kbs, net_tx_kbs; target net_rx_kbs + net_tx_kbs; 14 features per step.
	SchemaVM Schema = C.FC_SCHEMA_VM
	// SchemaLink is a DWCP WAN link: bandwidth_mbps, latency_ms, packet_loss_ratio,
	// jitter_ms; target bandwidth_mbps; 12 features per step.
	SchemaLink Schema = C.FC_SCHEMA_LINK
	// SchemaMetric is any single non-negative metric (a NAB series, a VM's CPU demand in
	// MHz): value; target value; 9 features per step.
	SchemaMetric Schema = C.FC_SCHEMA_METRIC
)

// Schema hashes of feature_core.h, for tests and consistency checks.
const (
	headerHashVM     uint64 = C.FC_SCHEMA_HASH_VM
	headerHashLink   uint64 = C.FC_SCHEMA_HASH_LINK
	headerHashMetric uint64 = C.FC_SCHEMA_HASH_METRIC
)

// schemas lists the schemas this binding declares; ParseSchema searches it.
var schemas = []Schema{SchemaVM, SchemaLink, SchemaMetric}

// ParseSchema returns the schema called name ("vm", "link", "metric"), as model bundles and golden
// files spell it; an *Error matching ErrUnknownSchema otherwise.
func ParseSchema(name string) (Schema, error) {
	for _, s := range schemas {
		if s.Name() == name {
			return s, nil
		}
	}
	return 0, &Error{Op: "schema", Status: StatusUnknownSchema, Index: -1, Channel: -1, Feature: -1}
}

// Name returns the lowercase schema name ("vm", "link"), or "" for an unknown schema.
func (s Schema) Name() string {
	p := C.fc_schema_name(C.fc_schema_id(s))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// String returns the schema name, or "Schema(<id>)" for an unknown schema.
func (s Schema) String() string {
	if n := s.Name(); n != "" {
		return n
	}
	return "Schema(" + strconv.Itoa(int(s)) + ")"
}

// NumChannels returns the number of input channels (values per sample); 0 if unknown.
func (s Schema) NumChannels() int { return int(C.fc_schema_channels(C.fc_schema_id(s))) }

// NumFeatures returns the number of features per step (channels + 2 temporal + 6
// statistical); 0 if unknown.
func (s Schema) NumFeatures() int { return int(C.fc_schema_features(C.fc_schema_id(s))) }

// Channels returns the input channel names in order (the columns of a values row); nil
// for an unknown schema. The slice is the caller's.
func (s Schema) Channels() []string {
	n := s.NumChannels()
	if n == 0 {
		return nil
	}
	names := make([]string, n)
	for i := range names {
		names[i] = s.channelName(i)
	}
	return names
}

// Features returns the feature names in order (the columns of a feature row); nil for an
// unknown schema. The slice is the caller's.
func (s Schema) Features() []string {
	n := s.NumFeatures()
	if n == 0 {
		return nil
	}
	names := make([]string, n)
	for i := range names {
		names[i] = s.featureName(i)
	}
	return names
}

// Hash returns the schema hash (64-bit FNV-1a over the schema's name, target and feature
// names, computed by the core; equals FC_SCHEMA_HASH_*). A model bundle records it; a
// different value means the features have changed. 0 for an unknown schema.
func (s Schema) Hash() uint64 {
	var h C.uint64_t
	if C.fc_schema_hash(C.fc_schema_id(s), &h) != C.FC_OK {
		return 0
	}
	return uint64(h)
}

func (s Schema) channelName(i int) string {
	if i < 0 {
		return ""
	}
	p := C.fc_channel_name(C.fc_schema_id(s), C.size_t(i))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func (s Schema) featureName(i int) string {
	if i < 0 {
		return ""
	}
	p := C.fc_feature_name(C.fc_schema_id(s), C.size_t(i))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}
