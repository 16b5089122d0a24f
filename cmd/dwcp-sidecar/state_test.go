package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// observeWindow sends a VM a full PBA window (23 samples on the 300 s grid, plus the
// fill limit's 2) and returns its forecast from the held samples.
func observeWindow(t *testing.T, ctx context.Context, o engine.Online, id string) engine.BandwidthForecast {
	t.Helper()
	var ts []int64
	var vals []float64
	for k := range 25 {
		ts = append(ts, 1_700_000_000+int64(k)*300)
		vals = append(vals, 20+float64(k%5), 50, 3, 7, 100+float64(k), 40)
	}
	ref := engine.EntityRef{Kind: engine.EntityVM, ID: id}
	if res, err := o.Observe(ctx, []engine.Samples{{Entity: ref, Schema: "vm", Timestamps: ts, Values: vals}}); err != nil || res.Accepted != 25 {
		t.Fatalf("observe: %+v, %v", res, err)
	}
	f, err := o.ForecastBandwidthEntity(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStateSnapshot: -state is written on SIGTERM and restored at the next start (the
// held VM answers with the same bits); a corrupt snapshot is refused with one error
// line, kept aside as FILE.corrupt-<time>, and the sidecar starts empty and serves.
func TestStateSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	state := filepath.Join(dir, "store.state")
	sock := filepath.Join(dir, "s.sock")
	args := []string{"-bundle", testbundle.Dir(), "-unix", sock, "-metrics", "", "-state", state}

	s := start(t, args...)
	want := observeWindow(t, ctx, ready(t, "unix://"+sock), "vm-7")
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
	if !strings.Contains(s.log.String(), "online store saved") {
		t.Fatalf("no save logged:\n%s", s.log)
	}

	s = start(t, args...)
	c := ready(t, "unix://"+sock)
	got, err := c.ForecastBandwidthEntity(ctx, engine.EntityRef{Kind: engine.EntityVM, ID: "vm-7"})
	if err != nil || got != want {
		t.Fatalf("after restore: %+v, %v; before the restart %+v", got, err, want)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}

	// Corrupt one byte of the payload.
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-3] ^= 0x40
	if err := os.WriteFile(state, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s = start(t, args...)
	c = ready(t, "unix://"+sock)
	if _, err := c.ForecastBandwidthEntity(ctx, engine.EntityRef{Kind: engine.EntityVM, ID: "vm-7"}); engine.CodeOf(err) != engine.CodeNotFound {
		t.Errorf("after a refused snapshot: %v, want the entity not held", err)
	}
	observeWindow(t, ctx, c, "vm-8") // still serving, and observing
	var refused []string
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, "state snapshot refused") {
			refused = append(refused, line)
		}
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "SHA-256") || !strings.Contains(refused[0], "level=ERROR") {
		t.Errorf("refusal lines %q", refused)
	}
	aside, _ := filepath.Glob(state + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("kept aside: %v", aside)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
}
