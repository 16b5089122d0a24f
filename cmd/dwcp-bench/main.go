// Command dwcp-bench measures the serving latency table of docs/serving.md in one run:
// per model, p50 and p99 of one typed call (features + model) on the bundle's first golden
// input, Go in-process, through the sidecar over a Unix socket and over loopback TCP (the
// sidecar's server runs in this process, on its own goroutines, unless -unix/-tcp name a
// running dwcp-sidecar), and Python (feature core
// through cffi + ONNX Runtime, tests/bench_latency.py) on the same inputs; and one PlaceVM
// over 1,000 hosts (the placement model's first golden request, its hosts replicated with
// distinct IDs), Go only. Then the online store (docs/online-store.md): the typed calls
// by entity id and PlaceVM by host ids on held state (the same inputs, observed first),
// Observe's ingest rate, and the store's heap at 10,000 and 100,000 VMs. It prints
// Markdown tables and asserts nothing.
//
// With -onnx FILE it measures one ONNX file instead, outside any bundle, in a session made
// as the served ones are: p50 and p99 of one call of -shape (Go in-process, model only, no
// features), or with -input-hex F the output bits of the input in F (see onnxMode).
//
//	dwcp-bench [-bundle golden/bundle] [-calls 20000] [-python .venv/bin/python] [-unix PATH] [-tcp ADDR]
//	dwcp-bench -onnx FILE [-shape 1x108] [-calls N] [-input-hex F] [-ort-lib LIB] [-json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "dwcp-bench: error: %v\n", err)
		os.Exit(2)
	}
}

// families in table order, with the typed call that serves each; the placement row
// (PlaceVM, placeHosts hosts) follows when the bundle has a placement model.
var families = []string{runtime.FamilyAnomaly, runtime.FamilyCapacity, runtime.FamilyBandwidth}

const placeHosts = 1000

type percentiles struct{ P50, P99 float64 } // microseconds

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dwcp-bench", flag.ContinueOnError)
	dir := fs.String("bundle", "golden/bundle", "bundle directory")
	calls := fs.Int("calls", 20000, "timed calls per model and path (a fifth for pba)")
	python := fs.String("python", ".venv/bin/python", `Python with dwcp-ml installed; "" skips the Python column`)
	unixTarget := fs.String("unix", "", "measure a running dwcp-sidecar on this socket path instead of one in this process")
	tcpTarget := fs.String("tcp", "", "measure a running dwcp-sidecar on this host:port instead of one in this process")
	var om onnxMode
	fs.StringVar(&om.file, "onnx", "", "measure this ONNX file instead of a bundle")
	fs.StringVar(&om.shape, "shape", "1x108", "-onnx: input shape, dimensions joined by x")
	fs.StringVar(&om.inputHex, "input-hex", "", "-onnx: print the outputs of the big-endian float32 hex input in this file")
	fs.StringVar(&om.ortLib, "ort-lib", "", "-onnx: libonnxruntime.so (default: $"+runtime.LibraryEnv+", then the .venv wheel's)")
	fs.BoolVar(&om.json, "json", false, "-onnx: print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if om.file != "" {
		om.calls = *calls
		return om.run(out)
	}
	ctx := context.Background()
	b, err := bundle.Load(*dir)
	if err != nil {
		return err
	}
	eng, err := runtime.Open(ctx, *dir, runtime.Config{})
	if err != nil {
		return err
	}
	defer eng.Close()
	inputs := map[string]engine.Series{}
	var place *engine.PlacementRequest
	for _, m := range b.Manifest.Models {
		g := b.Goldens[m.Name]
		if _, ok := inputs[m.Family]; !ok && len(g.Runs) > 0 {
			inputs[m.Family] = engine.Series{Timestamps: g.Runs[0].Timestamps, Values: g.Runs[0].Values}
		}
		if m.Family == runtime.FamilyPlacement && place == nil && len(g.Placements) > 0 {
			r := scaleHosts(g.Placements[0].Request, placeHosts)
			place = &r
		}
	}

	paths := []struct {
		name string
		eng  func() (engine.Engine, func(), error)
	}{
		{"Go in-process", func() (engine.Engine, func(), error) { return eng, func() {}, nil }},
		{"sidecar UDS", func() (engine.Engine, func(), error) { return sidecar(ctx, eng, "unix", *unixTarget) }},
		{"sidecar TCP", func() (engine.Engine, func(), error) { return sidecar(ctx, eng, "tcp", *tcpTarget) }},
	}
	table := map[string]map[string]percentiles{}
	online := map[string]onlineRow{}
	var names []string
	for _, p := range paths {
		e, stop, err := p.eng()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		table[p.name] = map[string]percentiles{}
		for _, f := range families {
			n := *calls
			if f == runtime.FamilyBandwidth {
				n = max(1, n/5)
			}
			s := inputs[f]
			if table[p.name][f], err = measure(n, func() error { return typedCall(ctx, e, f, s) }); err != nil {
				stop()
				return fmt.Errorf("%s %s: %w", p.name, f, err)
			}
		}
		if place != nil {
			f := runtime.FamilyPlacement
			call := func() error { _, err := e.PlaceVM(ctx, *place); return err }
			if table[p.name][f], err = measure(max(1, *calls/20), call); err != nil {
				stop()
				return fmt.Errorf("%s PlaceVM: %w", p.name, err)
			}
		}
		o, ok := e.(engine.Online)
		if p.name == "Go in-process" {
			o, ok = store.NewOnline(ctx, store.New(store.Config{}), eng), true
		}
		if ok {
			if online[p.name], err = measureOnline(ctx, eng, o, inputs, place, *calls); err != nil {
				stop()
				return fmt.Errorf("%s online store: %w", p.name, err)
			}
			names = append(names, p.name)
		}
		stop()
	}
	py, err := pythonColumn(*python, *dir, *calls)
	if err := printTable(out, b, table, py); err != nil {
		return err
	}
	if err != nil { // the Go figures are printed; say why the Python ones are not
		fmt.Fprintf(out, "\nPython column: %v\n", err)
	}
	printOnline(out, table, online, names)
	for _, n := range []int{10_000, 100_000} {
		per, total, err := storeMemory(ctx, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nstore memory, %d VMs with a full PBA window: %.0f B heap per entity, %.1f MiB\n", n, per, total/(1<<20))
	}
	return nil
}

// sidecar returns a client of the sidecar at external (a socket path or host:port), or of
// one serving eng in this process on a fresh socket or loopback port.
func sidecar(ctx context.Context, eng *runtime.Engine, network, external string) (engine.Engine, func(), error) {
	if external != "" {
		target := external
		if network == "unix" {
			target = "unix://" + external
		}
		return dial(ctx, target, func() {})
	}
	addr, target := "127.0.0.1:0", ""
	var tmp string
	if network == "unix" {
		var err error
		if tmp, err = os.MkdirTemp("", "dwcp-bench"); err != nil {
			return nil, nil, err
		}
		addr = filepath.Join(tmp, "sidecar.sock")
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		return nil, nil, err
	}
	if network == "unix" {
		target = "unix://" + addr
	} else {
		target = lis.Addr().String()
	}
	srv := server.New(server.Config{Logger: slog.New(slog.DiscardHandler)})
	go srv.Serve(lis)
	if err := srv.Attach(ctx, eng, eng); err != nil {
		return nil, nil, err
	}
	return dial(ctx, target, func() {
		srv.Shutdown(ctx)
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	})
}

func dial(ctx context.Context, target string, stop func()) (engine.Engine, func(), error) {
	c, err := client.Dial(ctx, target)
	if err != nil {
		stop()
		return nil, nil, err
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Close()
		stop()
		return nil, nil, err
	}
	return c, func() { c.Close(); stop() }, nil
}

func typedCall(ctx context.Context, e engine.Engine, family string, s engine.Series) error {
	var err error
	switch family {
	case runtime.FamilyAnomaly:
		_, err = e.AnomalyScore(ctx, s)
	case runtime.FamilyCapacity:
		_, err = e.RecommendCapacity(ctx, s)
	case runtime.FamilyBandwidth:
		_, err = e.ForecastBandwidth(ctx, s)
	}
	return err
}

// scaleHosts returns req with n hosts: its hosts repeated in order, copy k >= 1 of host
// "h3" named "h3.k" in the same domain (group and peer hosts name originals).
func scaleHosts(req engine.PlacementRequest, n int) engine.PlacementRequest {
	out := req
	out.Hosts = make([]engine.HostState, n)
	for i := range out.Hosts {
		h := req.Hosts[i%len(req.Hosts)]
		if k := i / len(req.Hosts); k > 0 {
			h.ID = fmt.Sprintf("%s.%d", h.ID, k)
		}
		out.Hosts[i] = h
	}
	return out
}

func measure(n int, call func() error) (percentiles, error) {
	for range min(n, 500) { // warm-up: connections, allocator arenas, caches
		if err := call(); err != nil {
			return percentiles{}, err
		}
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if err := call(); err != nil {
			return percentiles{}, err
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(n-1))].Nanoseconds()) / 1e3 }
	return percentiles{at(0.50), at(0.99)}, nil
}

// pythonColumn runs tests/bench_latency.py on the same bundle: model -> percentiles of
// features + ORT and of ORT alone.
func pythonColumn(python, dir string, calls int) (map[string][2]percentiles, error) {
	if python == "" {
		return nil, nil
	}
	out, err := exec.Command(python, "tests/bench_latency.py", "--bundle", dir,
		"--calls", fmt.Sprint(calls), "--json").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			if lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n"); len(lines) > 0 {
				stderr = ": " + lines[len(lines)-1]
			}
		}
		return nil, fmt.Errorf("%s tests/bench_latency.py (run from the repository root): %w%s", python, err, stderr)
	}
	var raw map[string]struct {
		P50    float64 `json:"p50_us"`
		P99    float64 `json:"p99_us"`
		ORTP50 float64 `json:"ort_p50_us"`
		ORTP99 float64 `json:"ort_p99_us"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("python column: %w", err)
	}
	res := map[string][2]percentiles{}
	for model, r := range raw {
		res[model] = [2]percentiles{{r.P50, r.P99}, {r.ORTP50, r.ORTP99}}
	}
	return res, nil
}

func printTable(out io.Writer, b *bundle.Bundle, t map[string]map[string]percentiles, py map[string][2]percentiles) error {
	fmt.Fprintf(out, "bundle %s; p50 / p99 in µs of one call (features + model, one series; PlaceVM: "+
		"constraints, factors and scores of every host, occlusion)\n\n", b.Manifest.BundleVersion)
	fmt.Fprintln(out, "| model | Go in-process | sidecar UDS | sidecar TCP | UDS overhead p50 | Python features+ORT | Python ORT alone |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	pp := func(p percentiles) string { return fmt.Sprintf("%.1f / %.1f", p.P50, p.P99) }
	for _, f := range families {
		name := f
		for _, m := range b.Manifest.Models {
			if m.Family == f {
				name = m.Name
				break
			}
		}
		in, uds, tcp := t["Go in-process"][f], t["sidecar UDS"][f], t["sidecar TCP"][f]
		pyCols := "— | —"
		if p, ok := py[name]; ok {
			pyCols = pp(p[0]) + " | " + pp(p[1])
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %.1f | %s |\n", name, pp(in), pp(uds), pp(tcp), uds.P50-in.P50, pyCols)
	}
	f := runtime.FamilyPlacement
	if in, ok := t["Go in-process"][f]; ok {
		name := f
		for _, m := range b.Manifest.Models {
			if m.Family == f {
				name = m.Name
				break
			}
		}
		uds, tcp := t["sidecar UDS"][f], t["sidecar TCP"][f]
		fmt.Fprintf(out, "| %s: PlaceVM, %d hosts | %s | %s | %s | %.1f | — | — |\n", name, placeHosts, pp(in), pp(uds),
			pp(tcp), uds.P50-in.P50)
	}
	return nil
}
