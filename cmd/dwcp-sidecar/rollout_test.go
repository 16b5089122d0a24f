package main

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// TestReadRollout: every key of the documented example file is read; a relative bundle
// is relative to the file's directory.
func TestReadRollout(t *testing.T) {
	rc, err := readRollout("testdata/rollout.json")
	if err != nil {
		t.Fatal(err)
	}
	want := rolloutConfig{canaryDir: filepath.Join("testdata", "bundles/canary"), shadowDir: "/srv/bundles/shadow", weightBP: 1000,
		policy: &rollout.Policy{Steps: []int{10, 50, 100}, Window: 5 * time.Minute, Hold: 10 * time.Minute, Interval: 10 * time.Second,
			MinRequests: 100, MaxErrorRateDelta: 0.01, MaxP99Ratio: 1.5, P99Slack: 2 * time.Millisecond, MaxDriftDelta: 0.1,
			MaxLossDelta: 0.05, MinPairs: 50}}
	if !reflect.DeepEqual(rc, want) {
		t.Fatalf("got %+v (policy %+v)\nwant %+v (policy %+v)", rc, *rc.policy, want, *want.policy)
	}
	// The example states the defaults.
	if got := (rollout.Policy{}).WithDefaults(); !reflect.DeepEqual(got, *want.policy) {
		t.Errorf("the example's policy %+v is not the defaults %+v", *want.policy, got)
	}
}
