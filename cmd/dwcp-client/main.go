package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	addr, bundle, entity                  string
	wait, timeout                         time.Duration
	tlsCA, tlsCert, tlsKey, tlsServerName string
}

// usageError is bad usage: one line, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is the command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := runErr(ctx, args, stdout, stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "dwcp-client: error: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "dwcp-client: error: %v\n", err)
	return 1
}

// nargs is the number of arguments of each command.
// nargs is the number of arguments of each command (-1: the command checks them).
var nargs = map[string]int{"demo": 0, "versions": 0, "reload": 1, "rollout": -1, "report-actual": 4, "held": 2}

const commands = "demo, versions, reload DIR, rollout show|set|promote|rollback|withdraw|clear-shadow, report-actual KIND ENTITY TS VALUE, or held KIND ID"

func runErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("dwcp-client", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // bad usage is one line (run prints it); -h prints the usage
	fs.Usage = func() {}
	fs.StringVar(&cfg.addr, "addr", client.DefaultTarget(), "sidecar `target`: unix:///path or host:port")
	fs.StringVar(&cfg.bundle, "bundle", "golden/bundle", "bundle `dir` whose golden inputs demo sends")
	fs.StringVar(&cfg.entity, "entity", "", "demo: the entity `id` its typed calls name (canary routing; the sidecar keeps their answers for report-actual, and demo prints the targets)")
	fs.DurationVar(&cfg.wait, "wait", 30*time.Second, "how long to wait for the sidecar to serve")
	fs.DurationVar(&cfg.timeout, "timeout", client.DefaultTimeout, "timeout of each call")
	fs.StringVar(&cfg.tlsCA, "tls-ca", "", "PEM CA `file` verifying the sidecar's certificate; any -tls-* flag turns TLS on (default CAs: the system's)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM client certificate `file` (mutual TLS: needed for reload over TCP)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	fs.StringVar(&cfg.tlsServerName, "tls-server-name", "", "`name` the sidecar's certificate must carry (default the host of -addr)")
	var err error
	if err = fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: dwcp-client [flags] demo | versions | reload DIR | rollout ACTION [flags] | report-actual KIND ENTITY TS VALUE | held KIND ID")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	cmd, rest := fs.Arg(0), fs.Args()[min(1, fs.NArg()):]
	want, ok := nargs[cmd]
	switch {
	case cmd == "":
		return usageError{"no command; want " + commands}
	case !ok:
		return usageError{fmt.Sprintf("unknown command %q; want %s", cmd, commands)}
	case want >= 0 && len(rest) != want:
		return usageError{fmt.Sprintf("%s takes %d argument(s), got %d", cmd, want, len(rest))}
	}

	var call func(context.Context, *client.Client) error
	switch cmd {
	case "rollout":
		if call, err = rolloutCommand(rest, cfg.addr, stdout); err != nil {
			return err
		}
	case "report-actual":
		if call, err = reportActual(rest, stdout); err != nil {
			return err
		}
	case "held":
		if call, err = held(rest, stdout); err != nil {
			return err
		}
	}

	opts := []client.Option{client.WithTimeout(cfg.timeout)}
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		opts = append(opts, client.WithTLSConfig(tlsCfg))
	}
	c, err := client.Dial(ctx, cfg.addr, opts...)
	if errors.Is(err, engine.ErrInvalidInput) {
		return usageError{"-addr: " + err.Error()}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, cfg.wait)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		return err
	}
	if call != nil {
		return call(ctx, c)
	}
	switch cmd {
	case "demo":
		return demo(ctx, c, cfg, stdout)
	case "versions":
		return versions(ctx, c, cfg.addr, stdout)
	}
	dir, err := filepath.Abs(rest[0])
	if err != nil {
		return err
	}
	if err := c.Reload(ctx, dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reloaded %s\n", dir)
	return versions(ctx, c, cfg.addr, stdout)
}

func versions(ctx context.Context, c *client.Client, addr string, w io.Writer) error {
	v, err := c.Versions(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sidecar %s: bundle %s from %s (feature core %s, ONNX Runtime %s), loaded %s\n",
		addr, v.Bundle, v.BundleDir, v.FeatureCore, v.ONNXRuntime, v.LoadedAt.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tFAMILY\tVERSION\tSCHEMA\tINPUT\tOUTPUT\tWINDOW")
	for _, m := range v.Models {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\t%d samples × %d s\n", m.Name, m.Family, m.Version, m.Schema,
			m.InputShape, m.OutputShape, m.WindowSamples, m.StepSeconds)
	}
	return tw.Flush()
}

// anomalyRuns scores each run as entity ENTITY/i (i from 1) and records its target.
func anomalyRuns(ctx context.Context, c *client.Client, runs []bundle.Run, entity string,
	target func(string, engine.Series, time.Duration)) error {
	for i, r := range runs {
		s := engine.Series{Timestamps: r.Timestamps, Values: r.Values, Entity: fmt.Sprintf("%s/%d", entity, i+1)}
		if _, err := c.AnomalyScore(ctx, s); err != nil {
			return err
		}
		target("anomaly", s, 0)
	}
	return nil
}

// demo sends one request of each kind on the golden inputs of cfg.bundle.
func demo(ctx context.Context, c *client.Client, cfg config, w io.Writer) error {
	if err := versions(ctx, c, cfg.addr, w); err != nil {
		return err
	}
	b, err := bundle.Load(cfg.bundle)
	if err != nil {
		return fmt.Errorf("golden inputs: %w", err)
	}
	first := func(model string) (engine.Series, error) {
		g, ok := b.Goldens[model]
		if !ok || len(g.Runs) == 0 {
			return engine.Series{}, fmt.Errorf("bundle %s has no golden run of model %q", cfg.bundle, model)
		}
		return engine.Series{Timestamps: g.Runs[0].Timestamps, Values: g.Runs[0].Values, Entity: cfg.entity}, nil
	}
	// What report-actual must name to join an actual to each typed answer (server/monitor.go).
	var targets []string
	target := func(kind string, s engine.Series, ahead time.Duration) {
		if s.Entity != "" && len(s.Timestamps) > 0 {
			ts := s.Timestamps[len(s.Timestamps)-1] + int64(ahead/time.Second)
			targets = append(targets, fmt.Sprintf("%s %s %d", kind, s.Entity, ts))
		}
	}
	type row struct{ call, model, answer string }
	calls := []func() (row, error){
		func() (row, error) {
			s, err := first("pba")
			if err != nil {
				return row{}, err
			}
			f, err := c.ForecastBandwidth(ctx, s)
			target("bandwidth", s, f.Horizon)
			return row{"ForecastBandwidth", ref(f.Model), fmt.Sprintf("%.4g KB/s (q%g..q%g: %.4g..%.4g) for %v, valid until %s",
				f.Point, f.QuantileLower, f.QuantileUpper, f.Lower, f.Upper, f.Horizon, f.ValidUntil.Format(time.RFC3339))}, err
		},
		func() (row, error) {
			s, err := first("anomaly")
			if err != nil {
				return row{}, err
			}
			a, err := c.AnomalyScore(ctx, s)
			target("anomaly", s, 0)
			if err == nil && cfg.entity != "" {
				// every golden run, one entity each, so some answers are flagged (precision
				// needs a flag to report a label for)
				err = anomalyRuns(ctx, c, b.Goldens["anomaly"].Runs[1:], cfg.entity, target)
			}
			verdict := "normal"
			if a.Anomalous {
				verdict = "ANOMALOUS"
			}
			return row{"AnomalyScore", ref(a.Model), fmt.Sprintf("score %.4f (threshold %.4f): %s", a.Score, a.Threshold, verdict)}, err
		},
		func() (row, error) {
			s, err := first("scaling")
			if err != nil {
				return row{}, err
			}
			r, err := c.RecommendCapacity(ctx, s)
			target("capacity", s, r.Horizon)
			return row{"RecommendCapacity", ref(r.Model), fmt.Sprintf("peak %.1f MHz × headroom %g -> %d × %g MHz = %g MHz for %v",
				r.PredictedPeakMHz, r.Headroom, r.Units, r.UnitMHz, r.CapacityMHz, r.Horizon)}, err
		},
		func() (row, error) {
			if !hasFamily(b, "link") {
				return row{"ForecastLink", "—", "skipped: bundle " + cfg.bundle + " has no link model (family link)"}, nil
			}
			s, err := first("link")
			if err != nil {
				return row{}, err
			}
			f, err := c.ForecastLink(ctx, s)
			target("link", s, f.Horizon)
			return row{"ForecastLink", ref(f.Model), linkAnswer(f)}, err
		},
		func() (row, error) {
			req, ok := firstPlacement(b)
			if !ok {
				return row{"PlaceVM", "—", "skipped: bundle " + cfg.bundle + " has no placement model (family itp)"}, nil
			}
			p, err := c.PlaceVM(ctx, req)
			return row{"PlaceVM", ref(p.Model), p.Summary()}, err
		},
		func() (row, error) {
			g, ok := b.Goldens["anomaly"]
			if !ok || g.InputShape[0] < 1 {
				return row{}, fmt.Errorf("bundle %s has no golden input of model anomaly", cfg.bundle)
			}
			in := make([]float64, len(g.Input)/int(g.InputShape[0]))
			for i := range in {
				in[i] = float64(g.Input[i])
			}
			out, err := c.Predict(ctx, "anomaly", "", in)
			return row{"Predict", "anomaly", fmt.Sprintf("%d features (golden row 0) -> %v", len(in), out)}, err
		},
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tMODEL\tTOOK\tANSWER")
	for _, call := range calls {
		start := time.Now()
		r, err := call()
		if err != nil {
			tw.Flush()
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.call, r.model, time.Since(start).Round(time.Microsecond), r.answer)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range targets {
		fmt.Fprintf(w, "report-actual target: %s\n", t)
	}
	return nil
}

// hasFamily reports whether the bundle has a model of family.
func hasFamily(b *bundle.Bundle, family string) bool {
	for _, m := range b.Manifest.Models {
		if m.Family == family {
			return true
		}
	}
	return false
}

// firstPlacement is the first golden request of the bundle's placement model (the first
// model of family itp, the one PlaceVM uses), if it has one.
func firstPlacement(b *bundle.Bundle) (engine.PlacementRequest, bool) {
	for _, m := range b.Manifest.Models {
		if g := b.Goldens[m.Name]; m.Family == "itp" && len(g.Placements) > 0 {
			return g.Placements[0].Request, true
		}
	}
	return engine.PlacementRequest{}, false
}

func ref(m engine.ModelRef) string { return m.Name + " " + m.Version }
