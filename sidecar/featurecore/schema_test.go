package featurecore_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// fnv1a64 is an independent FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
// 0x100000001b3), written here from the algorithm's definition, not from the C code.
func fnv1a64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

var derived = []string{"time_of_day", "day_of_week",
	"target_mean", "target_std", "target_min", "target_max", "target_slope", "target_ewma"}

func TestSchemas(t *testing.T) {
	tests := []struct {
		schema     featurecore.Schema
		name       string
		channels   []string
		targetExpr string
		hash       uint64 // FC_SCHEMA_HASH_* of feature_core.h, also checked in hash_internal_test.go
	}{
		{featurecore.SchemaVM, "vm",
			[]string{"cpu_pct", "mem_pct", "disk_read_kbs", "disk_write_kbs", "net_rx_kbs", "net_tx_kbs"},
			"net_rx_kbs+net_tx_kbs", 0x0af44209c575a0e3},
		{featurecore.SchemaLink, "link",
			[]string{"bandwidth_mbps", "latency_ms", "packet_loss_ratio", "jitter_ms"},
			"bandwidth_mbps", 0xe6c9aa07d34f4e13},
		{featurecore.SchemaMetric, "metric", []string{"value"}, "value", 0xbefc309086efdf45},
	}
	for _, tc := range tests {
		s := tc.schema
		if s.Name() != tc.name || s.String() != tc.name {
			t.Errorf("Schema(%d): Name %q String %q, want %q", int(s), s.Name(), s.String(), tc.name)
		}
		if got, err := featurecore.ParseSchema(tc.name); err != nil || got != s {
			t.Errorf("ParseSchema(%q) = %v, %v", tc.name, got, err)
		}
		if !slices.Equal(s.Channels(), tc.channels) || s.NumChannels() != len(tc.channels) {
			t.Errorf("%s: Channels %q (%d), want %q", tc.name, s.Channels(), s.NumChannels(), tc.channels)
		}
		features := append(slices.Clone(tc.channels), derived...)
		if !slices.Equal(s.Features(), features) || s.NumFeatures() != len(features) {
			t.Errorf("%s: Features %q (%d), want %q", tc.name, s.Features(), s.NumFeatures(), features)
		}
		// The caller owns the returned slices.
		s.Channels()[0], s.Features()[0] = "x", "x"
		if s.Channels()[0] != tc.channels[0] || s.Features()[0] != tc.channels[0] {
			t.Errorf("%s: names are shared with the caller", tc.name)
		}

		text := "dwcp-fc/1;" + tc.name + ";target=" + tc.targetExpr
		for _, f := range features {
			text += ";f32:" + f
		}
		if got, want := s.Hash(), fnv1a64(text); got != want {
			t.Errorf("%s: Hash() = %#016x, FNV-1a 64 of %q = %#016x", tc.name, got, text, want)
		}
		if s.Hash() != tc.hash {
			t.Errorf("%s: Hash() = %#016x, want FC_SCHEMA_HASH %#016x", tc.name, s.Hash(), tc.hash)
		}
	}
	if featurecore.SchemaVM.Hash() == featurecore.SchemaLink.Hash() {
		t.Error("schemas share a hash")
	}
}

func TestUnknownSchema(t *testing.T) {
	for _, s := range []featurecore.Schema{0, 4, 99, -1} {
		if s.Name() != "" || s.NumChannels() != 0 || s.NumFeatures() != 0 || s.Channels() != nil ||
			s.Features() != nil || s.Hash() != 0 {
			t.Errorf("Schema(%d): %q %d %d %v %v %#x", int(s), s.Name(), s.NumChannels(), s.NumFeatures(),
				s.Channels(), s.Features(), s.Hash())
		}
		if s.String() == "" {
			t.Errorf("Schema(%d).String() is empty", int(s))
		}
		p := featurecore.DefaultParams(s)
		if p.Schema != s {
			t.Errorf("DefaultParams(%d).Schema = %d", int(s), int(p.Schema))
		}
		wantError(t, p.Check(), featurecore.ErrUnknownSchema, "params", -1, -1, -1)
		_, err := p.Windows(nil, nil, 1, nil)
		wantError(t, err, featurecore.ErrUnknownSchema, "windows", -1, -1, -1)
		_, _, err = p.Grid([]int64{0})
		wantError(t, err, featurecore.ErrUnknownSchema, "grid", -1, -1, -1)
		err = p.Resample(0, 0, nil, nil, nil, nil)
		wantError(t, err, featurecore.ErrUnknownSchema, "resample", -1, -1, -1)
		if p.WindowInputLen() != 0 || p.WindowOutputLen() != 0 || p.WindowsCount(100, 1) != 0 {
			t.Errorf("Schema(%d): lengths of invalid params are not 0", int(s))
		}
	}
	for _, name := range []string{"", "VM", "disk", "vm "} {
		if _, err := featurecore.ParseSchema(name); !errors.Is(err, featurecore.ErrUnknownSchema) {
			t.Errorf("ParseSchema(%q) error %v, want ErrUnknownSchema", name, err)
		}
	}
}

func TestVersion(t *testing.T) {
	if featurecore.Version() != "1.1.0" || featurecore.VersionNumber() != 10100 {
		t.Errorf("Version %q, VersionNumber %d", featurecore.Version(), featurecore.VersionNumber())
	}
}
