package server_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// syntheticVM0 is the first default synthetic VM (training/synthetic.py, SyntheticConfig())
// as raw samples of schema vm, read from the project's Python as raw bytes.
type rawTrace struct {
	ts   []int64
	vals []float64
}

var syntheticVM0 = sync.OnceValues(func() (rawTrace, error) {
	_, file, _, _ := goruntime.Caller(0)
	python := filepath.Join(filepath.Dir(file), "..", "..", ".venv", "bin", "python")
	f, err := os.CreateTemp("", "dwcp-server-trace-*")
	if err != nil {
		return rawTrace{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	script := `import sys, numpy as np
from dwcp_ml.training.synthetic import traces
t = traces()[0]
with open(sys.argv[1], "wb") as f:
    f.write(np.ascontiguousarray(t.ts, dtype="<i8").tobytes())
    f.write(np.ascontiguousarray(t.values, dtype="<f8").tobytes())
`
	if out, err := exec.Command(python, "-c", script, f.Name()).CombinedOutput(); err != nil {
		return rawTrace{}, fmt.Errorf("%s (make venv builds it): %v: %s", python, err, out)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return rawTrace{}, err
	}
	n := len(data) / (8 * 7)
	ts, vals := make([]int64, n), make([]float64, n*6)
	for i := range ts {
		ts[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
	}
	for i := range vals {
		vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*n+8*i:]))
	}
	return rawTrace{ts, vals}, nil
})

// offlineSeries is the offline path: the feature core resampling the whole trace (in
// order, so its bins up to a sample's bin are what the samples so far give), the series
// up to the bin of sample i, at most the window plus the runtime's slack (288).
type offline struct {
	t0, step int64
	ch, win  int
	grid     []float64
}

func newOffline(t testing.TB, ctx context.Context, eng *runtime.Engine, family string, ts []int64, vals []float64) offline {
	t.Helper()
	p, info, err := eng.WindowParams(ctx, family)
	if err != nil {
		t.Fatal(err)
	}
	t0, nb, err := p.Grid(ts)
	if err != nil {
		t.Fatal(err)
	}
	o := offline{t0: t0, step: p.StepSeconds, ch: p.Schema.NumChannels(), win: info.WindowSamples, grid: make([]float64, nb*p.Schema.NumChannels())}
	if err := p.Resample(t0, nb, ts, vals, o.grid, make([]uint32, nb)); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o offline) series(last int64, entity string) engine.Series {
	k := int((last - o.t0) / o.step)
	first := max(k+1-o.win-288, 0)
	s := engine.Series{Entity: entity, Values: o.grid[first*o.ch : (k+1)*o.ch]}
	for j := first; j <= k; j++ {
		s.Timestamps = append(s.Timestamps, o.t0+int64(j)*o.step)
	}
	return s
}

// sameOrBothFail compares two answers bit for bit, or two errors by code.
func sameOrBothFail(t *testing.T, what string, got any, gerr error, want any, werr error) {
	t.Helper()
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("%s: through the sidecar %v / %v, offline %v / %v", what, got, gerr, want, werr)
	case gerr != nil:
		if engine.CodeOf(gerr) != engine.CodeOf(werr) {
			t.Fatalf("%s: through the sidecar error %v, offline %v", what, gerr, werr)
		}
	default:
		if err := sameBits(got, want); err != nil {
			t.Fatalf("%s: through the sidecar and offline differ: %v", what, err)
		}
	}
}

// TestOnlineReplayUDS is the golden replay through the Unix socket: the first default
// synthetic VM, sample by sample through Observe (schema vm and its cpu_pct as schema
// metric), and after every sample the three typed answers by entity must equal the
// offline batch path on the full series, bit for bit (errors, while the windows fill: the
// same code).
func TestOnlineReplayUDS(t *testing.T) {
	ctx := context.Background()
	tr, err := syntheticVM0()
	if err != nil {
		t.Fatal(err)
	}
	ts, vals := tr.ts, tr.vals
	cpu := make([]float64, len(ts))
	for i := range cpu {
		cpu[i] = vals[i*6]
	}
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	pba := newOffline(t, ctx, eng, store.FamilyBandwidth, ts, vals)
	anom := newOffline(t, ctx, eng, store.FamilyAnomaly, ts, cpu)
	capa := newOffline(t, ctx, eng, store.FamilyCapacity, ts, cpu)
	ref := engine.EntityRef{Kind: engine.EntityVM, ID: "vm0"}
	ok := 0
	for i := range ts {
		res, err := c.Observe(ctx, []engine.Samples{
			{Entity: ref, Schema: "vm", Timestamps: ts[i : i+1], Values: vals[i*6 : i*6+6]},
			{Entity: ref, Schema: "metric", Timestamps: ts[i : i+1], Values: cpu[i : i+1]},
		})
		if err != nil || res.Accepted != 2 {
			t.Fatalf("sample %d: %+v, %v", i, res, err)
		}
		what := func(m string) string { return fmt.Sprintf("%s after sample %d (t=%d)", m, i, ts[i]) }
		f, ferr := c.ForecastBandwidthEntity(ctx, ref)
		g, gerr := eng.ForecastBandwidth(ctx, pba.series(ts[i], "vm0"))
		sameOrBothFail(t, what("pba"), f, ferr, g, gerr)
		a, aerr := c.AnomalyScoreEntity(ctx, ref)
		b, berr := eng.AnomalyScore(ctx, anom.series(ts[i], "vm0"))
		sameOrBothFail(t, what("anomaly"), a, aerr, b, berr)
		r, rerr := c.RecommendCapacityEntity(ctx, ref)
		q, qerr := eng.RecommendCapacity(ctx, capa.series(ts[i], "vm0"))
		sameOrBothFail(t, what("scaling"), r, rerr, q, qerr)
		if aerr == nil && ferr == nil && rerr == nil {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no sample had all three answers")
	}
	t.Logf("%d samples; %d with all three answers bit-identical to the offline path, the rest the same errors", len(ts), ok)
}

// observeHosts sends req's hosts to o as held state: each host's state and its usage
// history as H samples on the 300 s grid ending at end.
func observeHosts(t testing.TB, ctx context.Context, o engine.Online, req engine.PlacementRequest, end int64) []string {
	t.Helper()
	ids := make([]string, len(req.Hosts))
	batch := make([]engine.Samples, len(req.Hosts))
	for i, h := range req.Hosts {
		n := len(h.Usage) / engine.NumResources
		ts := make([]int64, n)
		for k := range ts {
			ts[k] = end - int64(n-1-k)*300
		}
		ids[i] = h.ID
		batch[i] = engine.Samples{Entity: engine.EntityRef{Kind: engine.EntityHost, ID: h.ID}, Schema: engine.SchemaHost,
			Timestamps: ts, Values: h.Usage, Host: &engine.HostInfo{Domain: h.Domain, Capacity: h.Capacity, Allocated: h.Allocated,
				VMCount: h.VMCount, NICMbps: h.NICMbps, FailureRate: h.FailureRate, Cost: h.Cost, Maintenance: h.Maintenance}}
	}
	res, err := o.Observe(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Invalid+res.Late+res.EntityFull != 0 || res.HostInfos != len(req.Hosts) {
		t.Fatalf("observe hosts: %+v", res)
	}
	return ids
}

// TestPlaceVMHeld: for every placement request of the goldens (one of 1,000 hosts, one
// with top factors), PlaceVM on held host state (hosts observed like VMs, the request
// naming host ids) answers with the bits of the request carrying the full state, in
// process and through the Unix socket, and a request with no feasible host fails alike.
func TestPlaceVMHeld(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	srv, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	local := store.NewOnline(ctx, store.New(store.Config{}), eng)
	for i, r := range placeRequests(t) {
		end := int64(1_700_000_000 + i*1_000_000) // newer than the last request's samples: they leave the span
		ids := observeHosts(t, ctx, c, r, end)
		observeHosts(t, ctx, local, r, end)
		held := engine.HeldPlacementRequest{VM: r.VM, HostIDs: ids, Overcommit: r.Overcommit, Domains: r.Domains}
		want, werr := eng.PlaceVM(ctx, r)
		for name, o := range map[string]engine.Online{"in-process": local, "sidecar": c} {
			got, gerr := o.PlaceVMHeld(ctx, held)
			what := fmt.Sprintf("request %d (%d hosts) %s", i, len(r.Hosts), name)
			if (gerr == nil) != (werr == nil) {
				t.Fatalf("%s: held %v, full %v", what, gerr, werr)
			}
			if werr != nil {
				var a, b *engine.NoFeasibleHostError
				if !errors.As(gerr, &a) || !errors.As(werr, &b) || sameBits(*a, *b) != nil {
					t.Fatalf("%s: held error %v, full %v", what, gerr, werr)
				}
				continue
			}
			if err := sameBits(got, want); err != nil {
				t.Fatalf("%s: held and full state differ: %v", what, err)
			}
		}
	}
	if st := srv.Store().Stats(); st.Entities == 0 || st.HostInfos == 0 {
		t.Fatalf("store after the placements: %+v", st)
	}
}

// TestOnlineErrors: each refusal of the online calls, with its code, in process and
// through the sidecar.
func TestOnlineErrors(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{Store: store.New(store.Config{MaxEntities: 2})})
	c := dial(t, target)
	local := store.NewOnline(ctx, store.New(store.Config{MaxEntities: 2}), eng)
	vm := func(id string) engine.EntityRef { return engine.EntityRef{Kind: engine.EntityVM, ID: id} }
	one := []float64{1, 2, 3, 4, 5, 6}
	for name, o := range map[string]engine.Online{"in-process": local, "sidecar": c} {
		cases := []struct {
			name string
			call func() error
			code engine.Code
		}{
			{"unknown schema", func() error {
				_, err := o.Observe(ctx, []engine.Samples{{Entity: vm("a"), Schema: "disk", Timestamps: []int64{1}, Values: []float64{1}}})
				return err
			}, engine.CodeInvalidInput},
			{"values not in rows", func() error {
				_, err := o.Observe(ctx, []engine.Samples{{Entity: vm("a"), Schema: "vm", Timestamps: []int64{1}, Values: one[:5]}})
				return err
			}, engine.CodeInvalidInput},
			{"no kind", func() error {
				_, err := o.Observe(ctx, []engine.Samples{{Entity: engine.EntityRef{ID: "a"}, Schema: "vm", Timestamps: []int64{1}, Values: one}})
				return err
			}, engine.CodeInvalidInput},
			{"host state on a vm", func() error {
				_, err := o.Observe(ctx, []engine.Samples{{Entity: vm("a"), Schema: "vm", Host: &engine.HostInfo{}}})
				return err
			}, engine.CodeInvalidInput},
			{"not held", func() error { _, err := o.ForecastBandwidthEntity(ctx, vm("nobody")); return err }, engine.CodeNotFound},
			{"host not held", func() error {
				_, err := o.PlaceVMHeld(ctx, engine.HeldPlacementRequest{VM: engine.VMRequest{ID: "v", History: make([]float64, 48)}, HostIDs: []string{"h0"}})
				return err
			}, engine.CodeInvalidInput},
			{"store full", func() error {
				for _, id := range []string{"a", "b", "c"} {
					if _, err := o.Observe(ctx, []engine.Samples{{Entity: vm(id), Schema: "vm", Timestamps: []int64{1e9}, Values: one}}); err != nil {
						return err
					}
				}
				return nil
			}, engine.CodeStoreFull},
		}
		for _, tc := range cases {
			err := tc.call()
			if engine.CodeOf(err) != tc.code {
				t.Errorf("%s, %s: error %v, want code %v", name, tc.name, err, tc.code)
			}
			if name == "sidecar" && tc.code == engine.CodeStoreFull && !errors.Is(err, engine.ErrStoreFull) {
				t.Errorf("%s: %v does not match ErrStoreFull", tc.name, err)
			}
		}
	}
	// The counts of a call: invalid and late samples are dropped and counted, not errors.
	res, err := c.Observe(ctx, []engine.Samples{{Entity: vm("a"), Schema: "vm",
		Timestamps: []int64{2e9, 2e9 + 300, 1e9, 2e9 + 600}, Values: append(append(append(append([]float64{}, one...), math.NaN(), 1, 1, 1, 1, 1), one...), -1, 0, 0, 0, 0, 0)}})
	// 2e9 accepted, the NaN and the negative sample invalid, 1e9 late (older than the span
	// before 2e9).
	if err != nil || res.Accepted != 1 || res.Invalid != 2 || res.Late != 1 {
		t.Errorf("observe counts %+v, %v", res, err)
	}
	// Both hosts and host ids in one request.
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := wire.PlacementRequestsToProto(placeRequests(t)[:1])
	msg[0].HostIds = []string{"h0"}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = pb.NewEngineClient(conn).PlaceVM(cctx, &pb.PlaceVMRequest{Requests: msg})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("hosts and host ids: %v", err)
	}
}

// TestOnlineRollout: a call by entity routes like a series of that entity (canary at
// 10 %, sticky per entity by rollout.Bucket), and the canary answers from the same held
// samples, with the bits of its in-process answer on the same series.
func TestOnlineRollout(t *testing.T) {
	ctx := context.Background()
	srv, target, _ := rolloutServer(t, server.Config{})
	c := dial(t, target)
	if _, err := c.SetRollout(ctx, client.RolloutRequest{Action: "set", CanaryDir: testbundle.WithVersion(t, "canary-2")}); err != nil {
		t.Fatal(err)
	}
	var ts []int64
	var vals []float64
	for k := range 25 {
		ts = append(ts, 1_700_000_100+int64(k)*300)
		vals = append(vals, 20+float64(k%5), 50, 3, 7, 100+float64(k), 40)
	}
	seen := map[string]int{}
	for i := range 200 {
		id := fmt.Sprintf("vm-%d", i)
		ref := engine.EntityRef{Kind: engine.EntityVM, ID: id}
		if _, err := c.Observe(ctx, []engine.Samples{{Entity: ref, Schema: "vm", Timestamps: ts, Values: vals}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.ForecastBandwidthEntity(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		held, err := srv.Store().Series(ref, pbaParams(t), 23)
		if err != nil {
			t.Fatal(err)
		}
		held.Entity = id
		want, err := c.ForecastBandwidth(ctx, held) // the series form, routed by the same entity
		if err != nil {
			t.Fatal(err)
		}
		if err := sameBits(got, want); err != nil {
			t.Fatalf("%s: by entity and by series differ: %v", id, err)
		}
		wantBundle := "default-1"
		if rollout.Bucket(id) < 1000 {
			wantBundle = "canary-2"
		}
		if got.Model.Bundle != wantBundle {
			t.Fatalf("%s answered by %s, want %s", id, got.Model.Bundle, wantBundle)
		}
		seen[got.Model.Bundle]++
	}
	if seen["canary-2"] == 0 || seen["default-1"] == 0 {
		t.Fatalf("answers per bundle %v", seen)
	}
}

// pbaParams are the default bundle's PBA window parameters: the core's defaults for
// schema vm (12 steps, 12-sample statistics, 300 s, fill 2; TestOnlineReplayUDS reads
// them from the engine and checks every answer).
func pbaParams(t *testing.T) featurecore.Params {
	t.Helper()
	return featurecore.DefaultParams(featurecore.SchemaVM)
}

// TestOnlineLink: a link's raw samples (every 60 s, off the grid, some repeated) through
// Observe, in process and through the Unix socket; after every sample the link answer by
// entity equals the offline path (the feature core resampling every sample so far: a bin
// holds several) bit for bit, or fails alike while the window fills.
func TestOnlineLink(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	local := store.NewOnline(ctx, store.New(store.Config{}), eng)
	var ts []int64
	var vals []float64
	for i := range 180 { // 3 hours
		t := int64(1_764_547_200 + 60*i + (7*i)%13)
		v := []float64{800 + 37*float64(i%11), 12 + float64(i%5)*0.5, 0.0005 * float64(i%4), 1.2 + 0.1*float64(i%7)}
		ts, vals = append(ts, t), append(vals, v...)
		if i%17 == 5 { // a collector repeating a sample
			ts, vals = append(ts, t), append(vals, v...)
		}
	}
	ref := engine.EntityRef{Kind: engine.EntityLink, ID: "a->b"}
	ok := 0
	for i := range ts {
		batch := []engine.Samples{{Entity: ref, Schema: "link", Timestamps: ts[i : i+1], Values: vals[i*4 : i*4+4]}}
		off := newOffline(t, ctx, eng, store.FamilyLink, ts[:i+1], vals[:(i+1)*4])
		want, werr := eng.ForecastLink(ctx, off.series(ts[i], "a->b"))
		for name, o := range map[string]engine.Online{"in-process": local, "sidecar": c} {
			if res, err := o.Observe(ctx, batch); err != nil || res.Accepted != 1 {
				t.Fatalf("%s sample %d: %+v, %v", name, i, res, err)
			}
			got, gerr := o.ForecastLinkEntity(ctx, ref)
			sameOrBothFail(t, fmt.Sprintf("%s after sample %d (t=%d)", name, i, ts[i]), got, gerr, want, werr)
		}
		if werr == nil {
			ok++
		}
	}
	if ok < 60 {
		t.Fatalf("%d samples answered, want the last hour's at least", ok)
	}
}
