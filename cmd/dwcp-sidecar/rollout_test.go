package main

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
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
			MaxLossDelta: 0.05, MinPairs: 50, MinDriftValues: 1000}}
	if !reflect.DeepEqual(rc, want) {
		t.Fatalf("got %+v (policy %+v)\nwant %+v (policy %+v)", rc, *rc.policy, want, *want.policy)
	}
	// The example states the defaults.
	if got := (rollout.Policy{}).WithDefaults(); !reflect.DeepEqual(got, *want.policy) {
		t.Errorf("the example's policy %+v is not the defaults %+v", *want.policy, got)
	}
}

// waitCount waits (at most 30 s) until the log has n lines whose message is msg.
func waitCount(t *testing.T, log *syncBuffer, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(log.String(), `msg="`+msg+`" `) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d %q in the log:\n%s", n, msg, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRolloutFile runs the command with -rollout: the canary of the file serves after
// start; on SIGHUP a file with a shadow and a new hold adds the shadow and the policy
// without restarting the canary; a broken file on SIGHUP is logged and changes nothing.
func TestRolloutFile(t *testing.T) {
	ctx := context.Background()
	champion := testbundle.Copy(t)
	canary, shadow := testbundle.WithVersion(t, "canary-2"), testbundle.WithVersion(t, "shadow-3")
	root := filepath.Dir(champion) // every t.TempDir of the test is under it
	file := filepath.Join(t.TempDir(), "rollout.json")
	testbundle.Write(t, file, `{"canary": {"bundle": "`+canary+`", "weight_bp": 2000}}`)
	sock := filepath.Join(t.TempDir(), "s.sock")
	s := start(t, "-bundle", champion, "-bundle-root", root, "-rollout", file, "-unix", sock, "-metrics", "")
	c := ready(t, "unix://"+sock)
	waitCount(t, s.log, "rollout file applied", 1)
	st, err := c.Rollout(ctx)
	if err != nil || len(st.Slots) != 2 || st.Slots[1].Bundle != "canary-2" || st.WeightBP != 2000 {
		t.Fatalf("after start: %+v, %v", st, err)
	}

	testbundle.Write(t, file, `{"canary": {"bundle": "`+canary+`", "weight_bp": 2000}, "shadow": {"bundle": "`+shadow+`"},
		"policy": {"hold": "3m"}}`)
	s.sig <- syscall.SIGHUP
	waitCount(t, s.log, "rollout file applied", 2)
	st, err = c.Rollout(ctx)
	if err != nil || len(st.Slots) != 3 || st.Slots[2].Bundle != "shadow-3" || st.State.Policy.Hold != 3*time.Minute ||
		len(st.State.Transitions) != 1 {
		t.Fatalf("after SIGHUP: %+v, %v", st, err)
	}

	testbundle.Write(t, file, `{"canary": {"bundle": "`+canary+`", "weight_bp": 20000}}`)
	s.sig <- syscall.SIGHUP
	waitLog(t, s.log, "rollout file not applied; the rollout is unchanged")
	if st, err := c.Rollout(ctx); err != nil || len(st.Slots) != 3 || st.WeightBP != 2000 {
		t.Fatalf("after a bad file: %+v, %v", st, err)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
