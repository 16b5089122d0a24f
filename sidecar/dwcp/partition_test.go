//go:build cgo

package dwcp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/dwcp"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// streamSample is stream k's measurement at step i: its own capacity, a daily-ish wobble.
func streamSample(k, i int) dwcp.NetworkSample {
	return dwcp.NetworkSample{Timestamp: at(i), BandwidthMbps: float64(200*(k+1) + 13*((i+3*k)%9)),
		LatencyMs: float64(10 + k + i%4), PacketLoss: 0.001 * float64(i%3), JitterMs: 1 + 0.1*float64(i%5),
		NodeID: "n0", PeerID: fmt.Sprint("n", k+1)}
}

func newPartitioner(t *testing.T, eng dwcp.PartitionEngine, cfg dwcp.PartitionerConfig, streams, samples int) *dwcp.Partitioner {
	t.Helper()
	return namedPartitioner(t, eng, cfg, "s", streams, samples)
}

// namedPartitioner is newPartitioner with streams prefix0, prefix1, ...: the store holds
// a stream's samples across Partitioners, so each case names its own.
func namedPartitioner(t *testing.T, eng dwcp.PartitionEngine, cfg dwcp.PartitionerConfig, prefix string, streams, samples int) *dwcp.Partitioner {
	t.Helper()
	p, err := dwcp.NewPartitioner(context.Background(), eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for k := range streams {
		for i := range samples {
			if err := p.AddSample(fmt.Sprint(prefix, k), streamSample(k, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return p
}

// TestPartitioner: both engines give the same decision bit for bit, the chunks sum to
// Size, the faster streams carry more, MinBandwidth excludes the slow ones.
func TestPartitioner(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	c := sidecar(t, eng)
	for _, cfg := range []dwcp.PartitionerConfig{{}, {Forecast: engine.ForecastLinkModel}, {FECOverhead: 0.25}} {
		for _, task := range []dwcp.Task{
			{ID: "t-" + cfg.Forecast.String(), Size: 10 << 30},
			{ID: "fec-" + cfg.Forecast.String(), Size: 12345, RequiresFEC: true},
			{ID: "min-" + cfg.Forecast.String(), Size: 1 << 20, MinBandwidth: 300},
		} {
			var got [2]*dwcp.TaskPartitionDecision
			for j, e := range []dwcp.PartitionEngine{online(eng), c} {
				p := namedPartitioner(t, e, cfg, fmt.Sprintf("%s-%g/s", task.ID, cfg.FECOverhead), 3, 30)
				d, err := p.PartitionTask(ctx, &task)
				if err != nil {
					t.Fatalf("%+v %s: %v", cfg, task.ID, err)
				}
				got[j] = d
				if err := p.ReportOutcome(ctx, task.ID, d.StreamIDs[0], 1500*time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			if err := sameBits(got[0], got[1]); err != nil {
				t.Fatalf("%+v %s: in process vs sidecar: %v", cfg, task.ID, err)
			}
			d := got[0]
			var sum int64
			for _, x := range d.ChunkSizes {
				sum += x
			}
			if sum != task.Size || len(d.StreamIDs) != len(d.ChunkSizes) || d.Confidence < 0 || d.Confidence > 1 || d.ExpectedTime <= 0 {
				t.Fatalf("%s: %+v (sum %d)", task.ID, d, sum)
			}
			if task.MinBandwidth > 0 {
				if len(d.StreamIDs) != 2 || !strings.HasSuffix(d.StreamIDs[0], "/s1") { // s0 runs at 200 .. 304 Mbit/s
					t.Fatalf("%s: MinBandwidth kept %v", task.ID, d.StreamIDs)
				}
			} else if len(d.StreamIDs) != 3 || !(d.ChunkSizes[0] < d.ChunkSizes[1] && d.ChunkSizes[1] < d.ChunkSizes[2]) {
				t.Fatalf("%s: chunks %v not by bandwidth", task.ID, d.ChunkSizes)
			}
		}
	}
	if o, ok := eng.PartitionOutcome("t-last_value"); !ok || o.Seconds["t-last_value-0.25/s0"] != 1.5 { // the last partition of the task id
		t.Fatalf("outcome %+v %v", o, ok)
	}
}

func TestPartitionerErrors(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t)
	if _, err := dwcp.NewPartitioner(ctx, online(eng), dwcp.PartitionerConfig{Forecast: 5}); !errors.Is(err, dwcp.ErrBadConfig) {
		t.Fatalf("bad source: %v", err)
	}
	if _, err := dwcp.NewPartitioner(ctx, online(eng), dwcp.PartitionerConfig{FECOverhead: math.NaN()}); !errors.Is(err, dwcp.ErrBadConfig) {
		t.Fatalf("NaN overhead: %v", err)
	}
	p := newPartitioner(t, online(eng), dwcp.PartitionerConfig{}, 2, 3)
	warm := newPartitioner(t, online(eng), dwcp.PartitionerConfig{Forecast: engine.ForecastLinkModel}, 2, 3)
	empty := newPartitioner(t, online(eng), dwcp.PartitionerConfig{}, 0, 0)
	cases := []struct {
		name string
		p    *dwcp.Partitioner
		task *dwcp.Task
		want error
	}{
		{"nil task", p, nil, dwcp.ErrNil},
		{"no id", p, &dwcp.Task{Size: 1}, dwcp.ErrEmptyID},
		{"negative size", p, &dwcp.Task{ID: "x", Size: -1}, dwcp.ErrNegative},
		{"NaN min", p, &dwcp.Task{ID: "x", Size: 1, MinBandwidth: math.NaN()}, dwcp.ErrNotFinite},
		{"no streams", empty, &dwcp.Task{ID: "x", Size: 1}, dwcp.ErrEmptyHistory},
		{"warming up", warm, &dwcp.Task{ID: "x", Size: 1}, dwcp.ErrWarmingUp},
		{"size 0", p, &dwcp.Task{ID: "x"}, engine.ErrInvalidInput},
		{"min above all", p, &dwcp.Task{ID: "x", Size: 1, MinBandwidth: 1e9}, engine.ErrInvalidInput},
	}
	for _, c := range cases {
		if _, err := c.p.PartitionTask(ctx, c.task); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := p.AddSample("", streamSample(0, 9)); !errors.Is(err, dwcp.ErrEmptyID) {
		t.Errorf("empty stream id: %v", err)
	}
	old := streamSample(0, 0)
	old.Timestamp = old.Timestamp.Add(-100 * 5 * time.Minute)
	if err := p.AddSample("s0", old); !errors.Is(err, dwcp.ErrTimeOrder) {
		t.Errorf("old sample: %v", err)
	}
	if err := p.ReportOutcome(ctx, "never", "s0", 1); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown task: %v", err)
	}
	if err := p.ReportOutcome(ctx, "never", "s0", -1); !errors.Is(err, dwcp.ErrNegative) {
		t.Errorf("negative time: %v", err)
	}
}

// A Partitioner over the in-process engine cuts a 10 GiB task over three streams by their
// last observed bandwidth (the default); client.Dial gives the same decision.
func ExamplePartitioner() {
	ctx := context.Background()
	eng, err := runtime.Open(ctx, testbundle.Dir(), runtime.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	// The adapter's samples live in an online store; its feature core resamples them.
	held := store.NewOnline(ctx, store.New(store.Config{}), eng)

	p, err := dwcp.NewPartitioner(ctx, held, dwcp.PartitionerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for i, mbps := range []float64{400, 1000, 100} {
		s := dwcp.NetworkSample{Timestamp: at(0), BandwidthMbps: mbps, LatencyMs: 12, JitterMs: 1, NodeID: "a", PeerID: fmt.Sprint("p", i)}
		if err := p.AddSample(fmt.Sprint("stream-", i), s); err != nil {
			log.Fatal(err)
		}
	}
	d, err := p.PartitionTask(ctx, &dwcp.Task{ID: "backup-1", Size: 10 << 30, MinBandwidth: 200})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.StreamIDs, d.ChunkSizes, d.ExpectedTime.Round(1e6), d.Confidence)
	// Output: [stream-0 stream-1] [3067833783 7669584457] 1m1.357s 1
}
