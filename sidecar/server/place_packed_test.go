package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/internal/wire"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// TestPlaceVMPackedRejections: a client that does not ask for packed rejections (an older
// one) gets the repeated Rejection messages; one that asks gets PackedRejections; both
// decode to the in-process answer bit for bit, for the full and the held request.
func TestPlaceVMPackedRejections(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	_, g := testbundle.Placement(t)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	want, err := eng.PlaceVM(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Rejected) == 0 {
		t.Fatal("the request rejects no host")
	}
	ids := observeHosts(t, ctx, c, r, 1_700_000_100)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rpc := pb.NewEngineClient(conn)
	full := wire.PlacementRequestsToProto([]engine.PlacementRequest{r})
	held := wire.PlacementRequestsToProto([]engine.PlacementRequest{{VM: r.VM, Overcommit: r.Overcommit, Domains: r.Domains}})
	held[0].HostIds = ids
	heldPacked := wire.PlacementRequestsToProto([]engine.PlacementRequest{{VM: r.VM, Overcommit: r.Overcommit, Domains: r.Domains}})
	wire.PackHostIDs(heldPacked[0], ids)
	for _, tc := range []struct {
		name   string
		req    []*pb.PlacementRequest
		packed bool
	}{
		{"full, repeated", full, false}, {"full, packed", full, true},
		{"held, repeated", held, false}, {"held, packed", held, true},
		{"held by packed ids, repeated", heldPacked, false}, {"held by packed ids, packed", heldPacked, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			resp, err := rpc.PlaceVM(cctx, &pb.PlaceVMRequest{Requests: tc.req, PackedRejections: tc.packed})
			if err != nil {
				t.Fatal(err)
			}
			if !resp.GetReadsPackedHostIds() {
				t.Error("the sidecar does not say it reads packed host ids")
			}
			m := resp.GetPlacements()[0]
			if got := m.GetRejectedPacked() != nil; got != tc.packed || (len(m.GetRejected()) > 0) == tc.packed {
				t.Fatalf("packed list %v, %d repeated rejections; asked for packed: %v", got, len(m.GetRejected()), tc.packed)
			}
			p, err := wire.PlacementFromProtoHosts(m, wire.HostIDs(r.Hosts))
			if err != nil {
				t.Fatal(err)
			}
			if err := sameBits(p, want); err != nil {
				t.Fatalf("answer differs from in-process: %v", err)
			}
		})
	}
	// Malformed packed ids are refused, naming the fault.
	bad := wire.PlacementRequestsToProto([]engine.PlacementRequest{{VM: r.VM}})
	bad[0].HostIdsConcat, bad[0].HostIdEnds = "h0h1", []uint32{2, 1}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = rpc.PlaceVM(cctx, &pb.PlaceVMRequest{Requests: bad})
	if e := wire.ErrorFromStatus(err, target, "raw", ""); e.Code != engine.CodeInvalidInput ||
		e.Msg != "packed host id 1 ends at byte 1, after 2, of 4" {
		t.Errorf("malformed packed ids: %v", e)
	}
	// The client asks for packed rejections on both paths (and sends packed ids from its
	// second held call on: the first answer says the sidecar reads them).
	for name, call := range map[string]func() (engine.Placement, error){
		"client full": func() (engine.Placement, error) { return c.PlaceVM(ctx, r) },
		"client held": func() (engine.Placement, error) {
			return c.PlaceVMHeld(ctx, engine.HeldPlacementRequest{VM: r.VM, HostIDs: ids, Overcommit: r.Overcommit, Domains: r.Domains})
		},
	} {
		for range 2 {
			p, err := call()
			if err != nil {
				t.Fatal(err)
			}
			if err := sameBits(p, want); err != nil {
				t.Fatalf("%s: answer differs from in-process: %v", name, err)
			}
		}
	}
}

// TestPlaceVMHeldChangedIDs: the client reuses the packed form of the host list it sent
// last only while the list is the same; a list changed in place, a shorter one, and lists
// alternating between concurrent calls each get the in-process held answer bit for bit.
func TestPlaceVMHeldChangedIDs(t *testing.T) {
	ctx := context.Background()
	eng := openEngine(t, testbundle.Dir(), 0)
	_, target := serveEngine(t, "unix", eng, eng, server.Config{})
	c := dial(t, target, client.WithTimeout(10*time.Second))
	_, g := testbundle.Placement(t)
	r := testbundle.ScaleHosts(g.Placements[0].Request, 200)
	// No group or peers: any sub-list of the hosts is a valid request (rejections remain).
	r.VM.Group, r.VM.GroupSize, r.VM.GroupHosts, r.VM.PeerHosts = "", 0, nil, nil
	ids := observeHosts(t, ctx, c, r, 1_700_000_100)
	local := store.NewOnline(ctx, store.New(store.Config{}), eng)
	observeHosts(t, ctx, local, r, 1_700_000_100)
	held := func(ids []string) engine.HeldPlacementRequest {
		return engine.HeldPlacementRequest{VM: r.VM, HostIDs: ids, Overcommit: r.Overcommit, Domains: r.Domains}
	}
	check := func(name string, ids []string) {
		t.Helper()
		want, err := local.PlaceVMHeld(ctx, held(slices.Clone(ids)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.PlaceVMHeld(ctx, held(ids))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sameBits(got, want); err != nil {
			t.Fatalf("%s: answer differs from in-process held: %v", name, err)
		}
	}
	list := slices.Clone(ids)
	check("first (repeated ids)", list)
	check("same list (packed)", list)
	check("same list again (reused packed form)", list)
	slices.Reverse(list) // the caller's slice, changed in place
	check("reversed in place", list)
	check("a prefix", list[:len(list)/2])
	check("the whole list again", list)
	a, b := slices.Clone(ids), slices.Clone(ids[:len(ids)/3])
	wantA, errA := local.PlaceVMHeld(ctx, held(a))
	wantB, errB := local.PlaceVMHeld(ctx, held(b))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				ids, want := a, wantA
				if (i+w)%2 == 1 {
					ids, want = b, wantB
				}
				got, err := c.PlaceVMHeld(ctx, held(ids))
				if err == nil {
					err = sameBits(got, want)
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d (%d ids): %w", w, i, len(ids), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// olderSidecar answers PlaceVM like a sidecar that reads no packed host ids, after
// answering the first call like one that does (a sidecar replaced by an older one).
type olderSidecar struct {
	pb.UnimplementedEngineServer
	mu              sync.Mutex
	calls           int
	repeated, packs int // requests seen with host_ids, with packed ids
}

func (o *olderSidecar) PlaceVM(ctx context.Context, req *pb.PlaceVMRequest) (*pb.PlaceVMResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	r := req.GetRequests()[0]
	if len(r.GetHostIdEnds()) > 0 {
		o.packs++
	}
	if len(r.GetHostIds()) == 0 {
		return nil, wire.Status(ctx, engine.Errorf(engine.CodeInvalidInput, "place vm", "itp",
			"no hosts; send every host of the cluster (full and in-maintenance hosts too)"))
	}
	o.repeated++
	return &pb.PlaceVMResponse{Placements: []*pb.Placement{{Host: r.GetHostIds()[0], Model: &pb.ModelRef{}}},
		ReadsPackedHostIds: o.calls == 1}, nil
}

// TestPlaceVMHeldOlderSidecar: a client whose sidecar said it reads packed host ids, and
// is then answered by one that does not, asks again with the repeated ids and keeps to them.
func TestPlaceVMHeldOlderSidecar(t *testing.T) {
	ctx := context.Background()
	lis, target := listen(t, "unix")
	old := &olderSidecar{}
	gs := grpc.NewServer()
	pb.RegisterEngineServer(gs, old)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	c, err := client.Dial(ctx, target, client.WithTimeout(10*time.Second)) // no health service here: no WaitReady
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := engine.HeldPlacementRequest{VM: engine.VMRequest{ID: "vm"}, HostIDs: []string{"h0", "h1"}}
	for i := range 3 {
		p, err := c.PlaceVMHeld(ctx, req)
		if err != nil || p.Host != "h0" {
			t.Fatalf("call %d: %+v, %v", i, p, err)
		}
	}
	// Call 1 repeated (says: reads packed); call 2 packed, refused, asked again repeated;
	// call 3 repeated.
	if old.calls != 4 || old.packs != 1 || old.repeated != 3 {
		t.Fatalf("the older sidecar saw %d calls, %d with packed ids, %d with repeated ids; want 4, 1, 3",
			old.calls, old.packs, old.repeated)
	}
}

// BenchmarkPlaceVMRatio1000 prints the ratio, PlaceVM on held state over the Unix
// socket vs in-process with the full state (1,000 hosts), and vs in-process on held state,
// with the four calls (in-process full and held, UDS held and full) alternating in one
// loop so that load from other processes falls on all alike; the golden request (332
// rejected hosts) and the no-rejection one of BenchmarkPlaceVMHeld1000.
func BenchmarkPlaceVMRatio1000(b *testing.B) {
	ctx := context.Background()
	eng := openEngine(b, testbundle.Dir(), 0)
	_, target := serveEngine(b, "unix", eng, eng, server.Config{})
	c := dial(b, target, client.WithTimeout(10*time.Second))
	_, g := testbundle.Placement(b)
	golden := testbundle.ScaleHosts(g.Placements[0].Request, 1000)
	fits := golden
	fits.VM.Group, fits.VM.GroupSize, fits.VM.GroupHosts, fits.VM.PeerHosts = "", 0, nil, nil
	fits.Hosts = slices.Clone(golden.Hosts)
	for i := range fits.Hosts {
		fits.Hosts[i].ID = "fit-" + fits.Hosts[i].ID
		fits.Hosts[i].Allocated, fits.Hosts[i].Maintenance = engine.Resources{}, false
	}
	for _, sc := range []struct {
		name string
		r    engine.PlacementRequest
	}{{"golden", golden}, {"fits", fits}} {
		r := sc.r
		ids := observeHosts(b, ctx, c, r, 1_700_000_100)
		held := engine.HeldPlacementRequest{VM: r.VM, HostIDs: ids, Overcommit: r.Overcommit, Domains: r.Domains}
		local := store.NewOnline(ctx, store.New(store.Config{}), eng)
		observeHosts(b, ctx, local, r, 1_700_000_100)
		b.Run(sc.name, func(b *testing.B) {
			var in, inHeld, uds, udsFull []time.Duration
			rejected := 0
			for b.Loop() {
				t0 := time.Now()
				if _, err := eng.PlaceVM(ctx, r); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := local.PlaceVMHeld(ctx, held); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				p, err := c.PlaceVMHeld(ctx, held)
				if err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				if _, err := c.PlaceVM(ctx, r); err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				in, inHeld = append(in, t1.Sub(t0)), append(inHeld, t2.Sub(t1))
				uds, udsFull = append(uds, t3.Sub(t2)), append(udsFull, t4.Sub(t3))
				rejected = len(p.Rejected)
			}
			p50 := func(l []time.Duration) time.Duration { slices.Sort(l); return l[len(l)/2] }
			a, h, u, f := p50(in), p50(inHeld), p50(uds), p50(udsFull)
			b.ReportMetric(float64(a.Microseconds()), "inprocess-p50-µs")
			b.ReportMetric(float64(h.Microseconds()), "inprocess-held-p50-µs")
			b.ReportMetric(float64(u.Microseconds()), "uds-held-p50-µs")
			b.ReportMetric(float64(f.Microseconds()), "uds-full-p50-µs")
			b.ReportMetric(float64(u)/float64(a), "ratio")
			b.ReportMetric(float64(u)/float64(h), "ratio-held")
			verdict := "met"
			if float64(u)/float64(a) > 1.3 {
				verdict = "NOT met"
			}
			b.Log(fmt.Sprintf("PlaceVM 1,000 hosts (%s, %d rejected), %d calls each, alternating, p50: in-process full %v, "+
				"in-process held %v, UDS held %v, UDS full %v: UDS held / in-process full %.2fx (target 1.3x: %s), "+
				"UDS held / in-process held %.2fx", sc.name, rejected, len(in), a, h, u, f,
				float64(u)/float64(a), verdict, float64(u)/float64(h)))
		})
	}
}
