package runtime_test

import (
	"context"
	"errors"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// TestReloadUnderLoad fires a bad reload and then a good one while 8 goroutines predict:
// no call fails, the bad bundle is refused with the old one still serving, and the good
// one is served afterwards.
func TestReloadUnderLoad(t *testing.T) {
	ctx := context.Background()
	e := openDefault(t)
	series := map[string]engine.Series{
		"pba": goldenSeries(t, "pba")[0], "anomaly": goldenSeries(t, "anomaly")[0],
		"scaling": goldenSeries(t, "scaling")[0],
	}
	bad := testbundle.WithVersion(t, "bad-2")
	testbundle.Truncate(t, filepath.Join(bad, "anomaly.onnx"))
	good := testbundle.WithVersion(t, "default-2")

	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch (w + i) % 3 {
				case 0:
					_, err = e.ForecastBandwidth(ctx, series["pba"])
				case 1:
					_, err = e.AnomalyScore(ctx, series["anomaly"])
				case 2:
					_, err = e.RecommendCapacity(ctx, series["scaling"])
				}
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					t.Error(err)
				}
			}
		})
	}
	waitCalls := func(n int64) {
		for start := calls.Load(); calls.Load() < start+n; {
			goruntime.Gosched()
		}
	}
	waitCalls(200)
	err := e.Reload(ctx, bad)
	if !errors.Is(err, engine.ErrBadBundle) {
		t.Errorf("bad reload: got %v, want ErrBadBundle", err)
	}
	if v, _ := e.Versions(ctx); v.Bundle != "default-1" {
		t.Errorf("after a bad reload serving %q, want default-1", v.Bundle)
	}
	waitCalls(200)
	if err := e.Reload(ctx, good); err != nil {
		t.Errorf("good reload: %v", err)
	}
	waitCalls(200)
	close(stop)
	wg.Wait()
	v, _ := e.Versions(ctx)
	if v.Bundle != "default-2" || v.BundleDir != good {
		t.Errorf("after a good reload serving %q from %s", v.Bundle, v.BundleDir)
	}
	res, err := e.AnomalyScore(ctx, series["anomaly"])
	if err != nil || res.Model.Bundle != "default-2" {
		t.Errorf("answer after reload: %+v, %v", res.Model, err)
	}
	t.Logf("%d calls during two reloads, %d failed", calls.Load(), failures.Load())
}

// TestTwoEngines: engines share the process's ONNX Runtime but not their bundles.
func TestTwoEngines(t *testing.T) {
	a := openDefault(t)
	b, err := runtime.Open(context.Background(), testbundle.WithVersion(t, "other"), runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	va, _ := a.Versions(context.Background())
	vb, _ := b.Versions(context.Background())
	if va.Bundle != "default-1" || vb.Bundle != "other" || va.ONNXRuntime != "1.32.0" {
		t.Fatalf("versions %+v and %+v", va, vb)
	}
}
