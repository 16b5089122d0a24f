package featurecore

import (
	"strings"
	"testing"
)

func TestCheckDriftConstants(t *testing.T) {
	if err := checkDriftConstants(headerDefaultEpsilon(), headerMinEpsilon()); err != nil {
		t.Fatalf("header: %v", err)
	}
	err := checkDriftConstants(1e-4, 0)
	if err == nil || !strings.Contains(err.Error(), "FC_DRIFT_MIN_EPSILON 0") {
		t.Fatalf("mismatch not reported: %v", err)
	}
}
