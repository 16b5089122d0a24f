package server_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// linkStreams are n streams over the link goldens, stream i's bandwidth scaled by i+1.
func linkStreams(t testing.TB, n int) []engine.StreamState {
	gs := goldenSeries(t, "link")
	out := make([]engine.StreamState, n)
	for i := range out {
		s := gs[i%len(gs)]
		v := slices.Clone(s.Values)
		for j := 0; j < len(v); j += 4 {
			v[j] *= float64(i + 1)
		}
		out[i] = engine.StreamState{ID: string(rune('a' + i)), Series: engine.Series{Timestamps: s.Timestamps, Values: v}}
	}
	return out
}

// TestPartitionParity: the client over a Unix socket answers PartitionTask as the
// in-process engine does, bit for bit, and fails where it fails with the same code.
func TestPartitionParity(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	streams := linkStreams(t, 4)
	nan := linkStreams(t, 2)
	nan[0].Series.Values[len(nan[0].Series.Values)-4] = math.NaN()
	cases := []struct {
		name string
		req  engine.PartitionRequest
	}{
		{"last value", engine.PartitionRequest{Task: engine.Task{ID: "p1", SizeBytes: 1<<40 + 7, Priority: 3,
			Deadline: time.Unix(1_800_000_000, 0).UTC()}, Streams: streams}},
		{"link model", engine.PartitionRequest{Task: engine.Task{ID: "p2", SizeBytes: 987654321}, Streams: streams,
			Forecast: engine.ForecastLinkModel}},
		{"fec", engine.PartitionRequest{Task: engine.Task{ID: "p3", SizeBytes: 12345, RequiresFEC: true}, Streams: streams,
			FECOverhead: 0.25}},
		{"min bandwidth", engine.PartitionRequest{Task: engine.Task{ID: "p4", SizeBytes: 1e9, MinBandwidthMbps: 1e3}, Streams: streams}},
		{"size 0", engine.PartitionRequest{Task: engine.Task{ID: "p5"}, Streams: streams}},
		{"nan", engine.PartitionRequest{Task: engine.Task{ID: "p6", SizeBytes: 1}, Streams: nan}},
		{"bad source", engine.PartitionRequest{Task: engine.Task{ID: "p7", SizeBytes: 1}, Streams: streams, Forecast: 9}},
		{"no streams", engine.PartitionRequest{Task: engine.Task{ID: "p8", SizeBytes: 1}}},
		{"held link unknown", engine.PartitionRequest{Task: engine.Task{ID: "p9", SizeBytes: 1},
			Streams: []engine.StreamState{{ID: "x", LinkEntity: "nowhere"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := eng.PartitionTask(ctx, tc.req)
			got, gerr := c.PartitionTask(ctx, tc.req)
			if tc.name == "held link unknown" {
				// in process a held link is refused; the sidecar has no samples of it
				if !errors.Is(werr, engine.ErrInvalidInput) || !errors.Is(gerr, engine.ErrNotFound) {
					t.Fatalf("in process %v, sidecar %v", werr, gerr)
				}
				return
			}
			if (werr == nil) != (gerr == nil) || engine.CodeOf(werr) != engine.CodeOf(gerr) {
				t.Fatalf("in process %v, sidecar %v", werr, gerr)
			}
			if werr != nil {
				return
			}
			if err := sameBits(got, want); err != nil {
				t.Fatal(err)
			}
			if err := c.ReportOutcome(ctx, tc.req.Task.ID, got.StreamIDs[0], 12.5); err != nil {
				t.Fatal(err)
			}
			if o, ok := eng.PartitionOutcome(tc.req.Task.ID); !ok || o.Seconds[got.StreamIDs[0]] != 12.5 {
				t.Fatalf("outcome %+v %v", o, ok)
			}
		})
	}
	if err := c.ReportOutcome(ctx, "never", "a", 1); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("unknown task: %v", err)
	}
	if err := c.ReportOutcome(ctx, "p1", "a", math.NaN()); !errors.Is(err, engine.ErrInvalidInput) {
		t.Fatalf("NaN seconds: %v", err)
	}
}

// TestPartitionHeldLinks: streams naming links the sidecar holds are cut on the series the
// store gives the link model, as the in-process engine cuts that series.
func TestPartitionHeldLinks(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	srv, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	ids := []string{"a->b", "a->c"}
	for k, id := range ids {
		var ts []int64
		var vals []float64
		for i := range 180 { // 3 hours of one-minute probes
			ts = append(ts, int64(1_764_547_200+60*i))
			vals = append(vals, float64(k+1)*(800+37*float64(i%11)), 12+float64(i%5)*0.5, 0.0005*float64(i%4), 1.2+0.1*float64(i%7))
		}
		if _, err := c.Observe(ctx, []engine.Samples{{Entity: engine.EntityRef{Kind: engine.EntityLink, ID: id}, Schema: "link",
			Timestamps: ts, Values: vals}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range []engine.ForecastSource{engine.ForecastLastValue, engine.ForecastLinkModel} {
		held := engine.PartitionRequest{Task: engine.Task{ID: "h" + src.String(), SizeBytes: 1 << 33}, Forecast: src}
		local := held
		for _, id := range ids {
			s, err := store.SeriesFor(ctx, srv.Store(), eng, "link", engine.EntityRef{Kind: engine.EntityLink, ID: id})
			if err != nil {
				t.Fatal(err)
			}
			held.Streams = append(held.Streams, engine.StreamState{ID: id, LinkEntity: id})
			local.Streams = append(local.Streams, engine.StreamState{ID: id, Series: s})
		}
		got, err := c.PartitionTask(ctx, held)
		if err != nil {
			t.Fatal(err)
		}
		want, err := eng.PartitionTask(ctx, local)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameBits(got, want); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if len(got.StreamIDs) != 2 || got.ChunkBytes[1] <= got.ChunkBytes[0] {
			t.Fatalf("%s: the faster link did not get more bytes: %+v", src, got)
		}
	}
}

// BenchmarkPartitionTaskUDS times one PartitionTask of 4 streams through the client over
// a Unix socket, per forecast source.
func BenchmarkPartitionTaskUDS(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, "unix", eng, eng, server.Config{})
	c := dial(b, target)
	streams := linkStreams(b, 4)
	for _, src := range []engine.ForecastSource{engine.ForecastLastValue, engine.ForecastLinkModel} {
		b.Run(src.String(), func(b *testing.B) {
			req := engine.PartitionRequest{Task: engine.Task{ID: "bench", SizeBytes: 1 << 30}, Streams: streams, Forecast: src}
			for b.Loop() {
				if _, err := c.PartitionTask(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
