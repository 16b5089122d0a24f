package runtime_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// Leak check: a million in-process predictions (single typed calls, whose per-call tensors
// and sessions runs are where a leak would hide, plus batched rows) must not grow resident
// memory. DWCP_LEAK_SINGLE_CALLS raises the single-call share (1000000 = all single calls).
const (
	leakPredictions = 1_000_000
	leakSingleCalls = 200_000
	leakBatchRows   = 100
	// Allowed growth of resident memory after the warm-up: ONNX Runtime and Go keep freed
	// memory for reuse, so RSS settles a little above the warm-up (+0.8 MiB measured); a
	// leak of 48 bytes per single call would exceed it.
	leakLimitBytes = 8 << 20
)

func TestMemoryStable(t *testing.T) {
	single := leakSingleCalls
	if s := os.Getenv("DWCP_LEAK_SINGLE_CALLS"); s != "" {
		var err error
		if single, err = strconv.Atoi(s); err != nil || single < 0 || single > leakPredictions {
			t.Fatalf("DWCP_LEAK_SINGLE_CALLS=%q: want 0..%d", s, leakPredictions)
		}
	}
	e := openDefault(t)
	ctx := context.Background()
	families := []string{"anomaly", "scaling", "pba"}
	series := map[string]engine.Series{}
	for _, f := range families {
		series[f] = goldenSeries(t, f)[0]
	}
	row := goldenRow(t, "anomaly")
	batch := make([]float64, 0, leakBatchRows*len(row))
	for range leakBatchRows {
		batch = append(batch, row...)
	}
	predict := func(singles, rows int) {
		for i := range singles {
			// pba costs ten tree calls; keep it to one call in ten.
			f := families[i%2]
			if i%10 == 9 {
				f = "pba"
			}
			if err := typedCall(ctx, e, f, series[f]); err != nil {
				t.Fatal(err)
			}
		}
		for done := 0; done < rows; done += leakBatchRows {
			if _, err := e.PredictBatch(ctx, "anomaly", "", leakBatchRows, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	predict(20_000, 100_000) // warm-up: allocator arenas, Go heap
	before := rss(t)
	predict(single, leakPredictions-single)
	after := rss(t)
	growth := after - before
	t.Logf("%d predictions (%d single calls): RSS %.1f MiB -> %.1f MiB, growth %+.2f MiB",
		leakPredictions, single, mib(before), mib(after), mib(growth))
	if growth > leakLimitBytes {
		t.Fatalf("resident memory grew by %.1f MiB over %d predictions (limit %d MiB): a leak",
			mib(growth), leakPredictions, leakLimitBytes>>20)
	}
}

// rss is this process's resident set size in bytes (Linux /proc).
func rss(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
