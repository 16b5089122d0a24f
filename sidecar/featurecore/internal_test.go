package featurecore

import (
	"strings"
	"testing"
)

// The schema hashes computed by the core at run time equal the header's macros.
func TestSchemaHashMacros(t *testing.T) {
	if got := SchemaVM.Hash(); got != headerHashVM {
		t.Errorf("SchemaVM.Hash() = %#016x, FC_SCHEMA_HASH_VM = %#016x", got, headerHashVM)
	}
	if got := SchemaLink.Hash(); got != headerHashLink {
		t.Errorf("SchemaLink.Hash() = %#016x, FC_SCHEMA_HASH_LINK = %#016x", got, headerHashLink)
	}
	if got := SchemaMetric.Hash(); got != headerHashMetric {
		t.Errorf("SchemaMetric.Hash() = %#016x, FC_SCHEMA_HASH_METRIC = %#016x", got, headerHashMetric)
	}
}

// The placement hash computed by the core at run time equals FC_PLACE_HASH.
func TestPlaceHashMacro(t *testing.T) {
	if got := PlaceHash(); got != headerPlaceHash {
		t.Errorf("PlaceHash() = %#016x, FC_PLACE_HASH = %#016x", got, headerPlaceHash)
	}
}

func TestCheckVersion(t *testing.T) {
	if err := checkVersion(uint(VersionNumber()), headerVersionNumber); err != nil {
		t.Fatalf("linked library: %v", err)
	}
	err := checkVersion(10001, 10000)
	if err == nil || !strings.Contains(err.Error(), "10001") || !strings.Contains(err.Error(), "10000") {
		t.Fatalf("mismatch not reported: %v", err)
	}
}
