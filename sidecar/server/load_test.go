package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// TestLoad: 8 clients, each on its own connection, send 2,000 requests of every kind
// between them with no error and the in-process answers; then the same while a bad and a
// good reload happen in the middle: no request fails, and the answers stay the same apart
// from the bundle version that gave them.
func TestLoad(t *testing.T) {
	const clients, perClient = 8, 250
	for _, reload := range []bool{false, true} {
		name := "steady"
		if reload {
			name = "reloads"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			eng := openEngine(t, testbundle.Dir(), 0)
			_, target := serveEngine(t, "unix", eng, eng, server.Config{BundleRoot: testRoot(t)})
			calls := loadCalls(t, eng)

			// The reloads start after a quarter and after half of the requests.
			const quarter, half = clients * perClient / 4, clients * perClient / 2
			var done atomic.Int64
			atQuarter, atHalf := make(chan struct{}), make(chan struct{})
			reloaded := make(chan struct{})
			if !reload {
				close(reloaded)
			} else {
				bad := testbundle.WithVersion(t, "bad-2")
				testbundle.Truncate(t, filepath.Join(bad, "pba.onnx"))
				good := testbundle.WithVersion(t, "default-2")
				admin := dial(t, target)
				go func() {
					defer close(reloaded)
					<-atQuarter
					if err := admin.Reload(ctx, bad); !errors.Is(err, engine.ErrBadBundle) {
						t.Errorf("bad reload: %v", err)
					}
					<-atHalf
					if err := admin.Reload(ctx, good); err != nil {
						t.Errorf("good reload: %v", err)
					}
				}()
			}

			var failed atomic.Int64
			var wg sync.WaitGroup
			for w := range clients {
				c := dial(t, target)
				wg.Go(func() {
					// Past its share, a client keeps going until the reloads are done, so
					// they happen under load however the scheduler runs the goroutines.
					for i := 0; ; i++ {
						if i >= perClient {
							select {
							case <-reloaded:
								return
							default:
							}
						}
						call := calls[(w+i)%len(calls)]
						got, err := call.run(ctx, c)
						if err == nil {
							err = sameBits(withoutBundle(got), withoutBundle(call.want))
						}
						if err != nil {
							if failed.Add(1) <= 5 {
								t.Errorf("%s: %v", call.name, err)
							}
						}
						switch done.Add(1) {
						case quarter:
							close(atQuarter)
						case half:
							close(atHalf)
						}
					}
				})
			}
			wg.Wait()
			<-reloaded
			t.Logf("%d requests, %d failed", done.Load(), failed.Load())
			if v, _ := eng.Versions(ctx); reload && v.Bundle != "default-2" {
				t.Errorf("serving %q after the reloads", v.Bundle)
			}
		})
	}
}

type loadCall struct {
	name string
	run  func(context.Context, engine.Engine) (any, error)
	want any
}

// loadCalls is one call of each kind on golden inputs with its in-process answer.
func loadCalls(t testing.TB, eng engine.Engine) []loadCall {
	t.Helper()
	pba, anomaly, scaling := goldenSeries(t, "pba")[0], goldenSeries(t, "anomaly")[1], goldenSeries(t, "scaling")[2]
	rows, n := goldenRows(t, "scaling")
	row := rows[:len(rows)/n]
	calls := []loadCall{
		{name: "ForecastBandwidth", run: func(ctx context.Context, e engine.Engine) (any, error) { return e.ForecastBandwidth(ctx, pba) }},
		{name: "AnomalyScore", run: func(ctx context.Context, e engine.Engine) (any, error) { return e.AnomalyScore(ctx, anomaly) }},
		{name: "RecommendCapacity", run: func(ctx context.Context, e engine.Engine) (any, error) { return e.RecommendCapacity(ctx, scaling) }},
		{name: "Predict", run: func(ctx context.Context, e engine.Engine) (any, error) { return e.Predict(ctx, "scaling", "", row) }},
	}
	for i := range calls {
		want, err := calls[i].run(context.Background(), eng)
		if err != nil {
			t.Fatal(err)
		}
		calls[i].want = want
	}
	return calls
}

// withoutBundle blanks the bundle version in a typed answer, the one thing a good reload
// of the same models changes.
func withoutBundle(a any) any {
	switch a := a.(type) {
	case engine.BandwidthForecast:
		a.Model.Bundle = ""
		return a
	case engine.AnomalyResult:
		a.Model.Bundle = ""
		return a
	case engine.CapacityRecommendation:
		a.Model.Bundle = ""
		return a
	}
	return a
}
