package runtime_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// partitionStreams builds n streams from the bundle's link goldens, the bandwidth of
// stream i scaled by scale[i] (so the streams differ).
func partitionStreams(t testing.TB, scale ...float64) []engine.StreamState {
	t.Helper()
	gs := goldenSeries(t, "link")
	out := make([]engine.StreamState, len(scale))
	for i, k := range scale {
		s := gs[i%len(gs)]
		v := slices.Clone(s.Values)
		for j := 0; j < len(v); j += 4 {
			v[j] *= k
		}
		out[i] = engine.StreamState{ID: "s" + string(rune('a'+i)), Series: engine.Series{Timestamps: s.Timestamps, Values: v}}
	}
	return out
}

func TestPartitionTask(t *testing.T) {
	e := openDefault(t)
	ctx := context.Background()
	streams := partitionStreams(t, 1, 2, 0.5, 4)
	last := func(s engine.StreamState) float64 { return s.Series.Values[len(s.Series.Values)-4] }
	cases := []struct {
		name    string
		req     engine.PartitionRequest
		forecst func(i int) float64
	}{
		{"last value", engine.PartitionRequest{Task: engine.Task{ID: "t1", SizeBytes: 1 << 30}, Streams: streams}, nil},
		{"link model", engine.PartitionRequest{Task: engine.Task{ID: "t2", SizeBytes: 123456789}, Streams: streams,
			Forecast: engine.ForecastLinkModel}, nil},
		{"fec", engine.PartitionRequest{Task: engine.Task{ID: "t3", SizeBytes: 999, RequiresFEC: true}, Streams: streams,
			FECOverhead: 0.25}, nil},
		{"min bandwidth", engine.PartitionRequest{Task: engine.Task{ID: "t4", SizeBytes: 1e9,
			MinBandwidthMbps: slices.Min([]float64{last(streams[0]), last(streams[1]), last(streams[2]), last(streams[3])}) + 1e-9},
			Streams: streams}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.PartitionTask(ctx, c.req)
			if err != nil {
				t.Fatal(err)
			}
			fc := make([]float64, len(streams))
			var links []engine.LinkForecast
			for i, s := range c.req.Streams {
				fc[i] = last(s)
				if c.req.Forecast == engine.ForecastLinkModel {
					f, err := e.ForecastLink(ctx, s.Series)
					if err != nil {
						t.Fatal(err)
					}
					fc[i] = f.PointMbps
					links = append(links, f)
				}
			}
			p := featurecore.DefaultPartitionParams()
			p.FECOverhead = c.req.FECOverhead
			want, err := featurecore.PartitionChunks(p, fc, c.req.Task.MinBandwidthMbps, c.req.Task.SizeBytes, c.req.Task.RequiresFEC)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			var chunks []uint64
			var sum uint64
			for i, u := range want.Used {
				if u {
					ids, chunks = append(ids, c.req.Streams[i].ID), append(chunks, want.Chunks[i])
					sum += want.Chunks[i]
				}
			}
			if !slices.Equal(got.StreamIDs, ids) || !slices.Equal(got.ChunkBytes, chunks) || got.ExpectedSeconds != want.ExpectedSeconds {
				t.Fatalf("got %v %v %v, featurecore %v %v %v", got.StreamIDs, got.ChunkBytes, got.ExpectedSeconds, ids, chunks, want.ExpectedSeconds)
			}
			if sum != c.req.Task.SizeBytes {
				t.Fatalf("chunks sum to %d, size %d", sum, c.req.Task.SizeBytes)
			}
			if got.Confidence < 0 || got.Confidence > 1 || got.Forecast != c.req.Forecast || got.TaskID != c.req.Task.ID {
				t.Fatalf("answer %+v", got)
			}
			if links != nil {
				if got.Model.Name == "" || got.Model != links[0].Model {
					t.Fatalf("model %+v, ForecastLink's %+v", got.Model, links[0].Model)
				}
			} else if got.Model != (engine.ModelRef{}) {
				t.Fatalf("last_value named a model: %+v", got.Model)
			}
			if c.name == "min bandwidth" && len(got.StreamIDs) != len(streams)-1 {
				t.Fatalf("the slowest stream was not excluded: %v", got.StreamIDs)
			}
			if c.name == "link model" && slices.Equal(got.ForecastMbps, []float64{last(streams[0]), last(streams[1]), last(streams[2]), last(streams[3])}) {
				t.Fatal("link_model forecasts equal the last values")
			}
		})
	}
}

func TestPartitionTaskErrors(t *testing.T) {
	e := openDefault(t)
	ctx := context.Background()
	streams := partitionStreams(t, 1, 2)
	nan := partitionStreams(t, 1, 2)
	nan[1].Series.Values[len(nan[1].Series.Values)-4] = math.NaN()
	early := partitionStreams(t, 1, 2)
	early[0].Series.Values[0] = math.Inf(1)
	short := partitionStreams(t, 1)
	short[0].Series.Values = short[0].Series.Values[:5]
	task := engine.Task{ID: "t", SizeBytes: 1000}
	cases := []struct {
		name string
		req  engine.PartitionRequest
		fc   error // the featurecore cause, if any
	}{
		{"no task id", engine.PartitionRequest{Task: engine.Task{SizeBytes: 1}, Streams: streams}, nil},
		{"no streams", engine.PartitionRequest{Task: task}, nil},
		{"bad source", engine.PartitionRequest{Task: task, Streams: streams, Forecast: 7}, nil},
		{"no stream id", engine.PartitionRequest{Task: task, Streams: []engine.StreamState{{Series: streams[0].Series}}}, nil},
		{"duplicate id", engine.PartitionRequest{Task: task, Streams: []engine.StreamState{streams[0], streams[0]}}, nil},
		{"held link in process", engine.PartitionRequest{Task: task, Streams: []engine.StreamState{{ID: "x", LinkEntity: "l1"}}}, nil},
		{"no samples", engine.PartitionRequest{Task: task, Streams: []engine.StreamState{{ID: "x"}}}, nil},
		{"values not rows", engine.PartitionRequest{Task: task, Streams: short}, nil},
		{"size 0", engine.PartitionRequest{Task: engine.Task{ID: "t"}, Streams: streams}, featurecore.ErrEmpty},
		{"size beyond 2^53", engine.PartitionRequest{Task: engine.Task{ID: "t", SizeBytes: 1<<53 + 1}, Streams: streams}, featurecore.ErrRange},
		{"inf earlier sample", engine.PartitionRequest{Task: task, Streams: early}, nil},
		{"nan forecast", engine.PartitionRequest{Task: task, Streams: nan}, featurecore.ErrMissing},
		{"min above all", engine.PartitionRequest{Task: engine.Task{ID: "t", SizeBytes: 1, MinBandwidthMbps: 1e12}, Streams: streams}, featurecore.ErrEmpty},
		{"negative min", engine.PartitionRequest{Task: engine.Task{ID: "t", SizeBytes: 1, MinBandwidthMbps: -1}, Streams: streams}, featurecore.ErrNegative},
		{"fec overhead", engine.PartitionRequest{Task: engine.Task{ID: "t", SizeBytes: 1, RequiresFEC: true}, Streams: streams, FECOverhead: 9}, featurecore.ErrBadParams},
		{"link model short window", engine.PartitionRequest{Task: task, Streams: []engine.StreamState{{ID: "x", Series: engine.Series{
			Timestamps: streams[0].Series.Timestamps[:1], Values: streams[0].Series.Values[:4]}}}, Forecast: engine.ForecastLinkModel}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.PartitionTask(ctx, c.req)
			if !errors.Is(err, engine.ErrInvalidInput) {
				t.Fatalf("err %v, want invalid input", err)
			}
			if c.fc != nil && !errors.Is(err, c.fc) {
				t.Fatalf("err %v, want %v", err, c.fc)
			}
		})
	}
}

func TestReportOutcome(t *testing.T) {
	e := openDefault(t)
	ctx := context.Background()
	d, err := e.PartitionTask(ctx, engine.PartitionRequest{Task: engine.Task{ID: "task", SizeBytes: 1 << 20}, Streams: partitionStreams(t, 1, 3)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		task, stream string
		secs         float64
		want         error
	}{
		{"task", d.StreamIDs[0], 1.5, nil},
		{"task", "nope", 1, engine.ErrNotFound},
		{"other", d.StreamIDs[0], 1, engine.ErrNotFound},
		{"task", d.StreamIDs[0], math.NaN(), engine.ErrInvalidInput},
		{"task", d.StreamIDs[0], -1, engine.ErrInvalidInput},
		{"task", d.StreamIDs[0], math.Inf(1), engine.ErrInvalidInput},
	} {
		if err := e.ReportOutcome(ctx, c.task, c.stream, c.secs); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("ReportOutcome(%q, %q, %g) = %v, want %v", c.task, c.stream, c.secs, err, c.want)
		}
	}
	o, ok := e.PartitionOutcome("task")
	if !ok || o.Seconds[d.StreamIDs[0]] != 1.5 || len(o.Seconds) != 1 || !slices.Equal(o.Decision.ChunkBytes, d.ChunkBytes) {
		t.Fatalf("outcome %+v %v", o, ok)
	}
}

var _ engine.Partitioner = (*runtime.Engine)(nil)

// BenchmarkPartitionTask times one PartitionTask over 4 streams per source (last_value:
// the rule only; link_model: one ForecastLinkBatch of 4 rows plus the rule).
func BenchmarkPartitionTask(b *testing.B) {
	e := openDefault(b)
	ctx := context.Background()
	streams := partitionStreams(b, 1, 2, 0.5, 4)
	for _, src := range []engine.ForecastSource{engine.ForecastLastValue, engine.ForecastLinkModel} {
		b.Run(src.String(), func(b *testing.B) {
			req := engine.PartitionRequest{Task: engine.Task{ID: "bench", SizeBytes: 1 << 30}, Streams: streams, Forecast: src}
			for b.Loop() {
				if _, err := e.PartitionTask(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
