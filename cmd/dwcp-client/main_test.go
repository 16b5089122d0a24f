package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/internal/testpki"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// defaultBundle is the committed bundle (tests run in the package directory).
var defaultBundle = filepath.Join("..", "..", "golden", "bundle")

// sidecar serves the committed bundle on a Unix socket in a test directory and returns
// the -addr that reaches it.
func sidecar(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, lis, nil)
	return "unix://" + lis.Addr().String()
}

// serveOn serves the committed bundle on lis, with TLS on TCP if tlsCfg is not nil.
func serveOn(t *testing.T, lis net.Listener, tlsCfg *tls.Config) {
	t.Helper()
	eng, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Root "/": reload may load any directory reached without symbolic links, so the
	// tests reload both the committed bundle and test directories.
	mon, err := monitor.New(monitor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(ctx context.Context, dir string) (server.Opened, error) {
		return runtime.Open(ctx, dir, runtime.Config{})
	}
	srv := server.New(server.Config{BundleRoot: "/", TLS: tlsCfg, Open: open, Monitor: mon})
	go srv.Serve(lis)
	if err := srv.Attach(context.Background(), eng, eng); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		eng.Close()
	})
}

// TestTLS: over TCP with TLS, the -tls-* flags verify the sidecar and present the client
// certificate that reload needs; without one, reload is refused and versions works.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := testpki.NewCA(t, "server-ca"), testpki.NewCA(t, "client-ca")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, lis, &tls.Config{Certificates: []tls.Certificate{serverCA.Server(t, "sidecar")},
		ClientCAs: clientCA.Pool(), ClientAuth: tls.VerifyClientCertIfGiven})
	ca := serverCA.WriteCA(t, dir)
	cert, key := testpki.Write(t, dir, "operator", clientCA.Client(t, "operator"))
	addr := []string{"-addr", lis.Addr().String(), "-wait", "2s", "-tls-ca", ca}
	tests := []struct {
		name string
		args []string
		exit int
		want string // in stdout, or in stderr when exit != 0
	}{
		{"versions, server verified", []string{"versions"}, 0, "bundle default-1"},
		{"reload with a client certificate", []string{"-tls-cert", cert, "-tls-key", key, "reload", defaultBundle}, 0, "reloaded "},
		{"reload without one", []string{"reload", defaultBundle}, 1, "without a verified client certificate may not make admin calls"},
		{"server name mismatch", []string{"-tls-server-name", "elsewhere", "versions"}, 1, "not serving"},
		{"cert without key", []string{"-tls-cert", cert, "versions"}, 2, "-tls-cert and -tls-key go together"},
		{"CA file not PEM", []string{"-tls-ca", key + ".missing", "versions"}, 2, "-tls-ca: open "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{}, addr...), tc.args...), &stdout, &stderr)
			out := stdout.String()
			if tc.exit != 0 {
				out = stderr.String()
			}
			if code != tc.exit || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\nstdout:\n%s\nstderr:\n%s", code, tc.exit, tc.want, &stdout, &stderr)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	addr := sidecar(t)
	abs, err := filepath.Abs(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	canary := testbundle.WithVersion(t, "canary-2")
	tests := []struct {
		name string
		args []string
		exit int
		want []string // in stdout, or in stderr when exit != 0
	}{
		{"demo", []string{"-bundle", defaultBundle, "demo"}, 0, []string{"bundle default-1",
			"ForecastBandwidth  pba 2", "AnomalyScore       anomaly 2", "RecommendCapacity  scaling 1.0.0",
			"ForecastLink       link 1", "Mbit/s (q0.1..q0.9: ", "Predict            anomaly", "18 features (golden row 0)",
			"PlaceVM            itp 1.0.0", "hosts feasible"}},
		{"versions", []string{"versions"}, 0, []string{"bundle default-1", "pba      pba      2        vm", "link     link     1        link"}},
		{"reload", []string{"reload", defaultBundle}, 0, []string{"reloaded " + abs, "bundle default-1 from " + abs}},
		{"reload refused", []string{"reload", t.TempDir()}, 1, []string{"dwcp-client: error: ", "still serving default-1", "manifest.json"}},
		{"demo without goldens", []string{"-bundle", t.TempDir(), "demo"}, 1, []string{"golden inputs: "}},
		{"rollout set", []string{"rollout", "set", "-canary", canary, "-weight", "1500", "-hold", "2m"}, 0,
			[]string{"rollout set done", "canary canary-2 at 1500 bp (15 %)", "hold 2m0s", "canary    canary-2   false", " start: canary canary-2 0 -> 1500 bp"}},
		{"rollout show", []string{"rollout", "show"}, 0, []string{"champion  default-1", "canary    canary-2"}},
		{"rollout promote", []string{"rollout", "promote"}, 0, []string{"canary canary-2 at 5000 bp (50 %)", " promote: canary canary-2 1500 -> 5000 bp"}},
		{"rollout withdraw", []string{"rollout", "withdraw"}, 0, []string{"no canary", " withdraw: canary canary-2 5000 -> 0 bp"}},
		{"rollout withdraw again", []string{"rollout", "withdraw"}, 1, []string{"no canary is being rolled out"}},
		{"report-actual unmatched", []string{"report-actual", "bandwidth", "vm-1", "1767225600", "10"}, 1, []string{"no served prediction waiting"}},
		{"held", []string{"held", "vm", "held-1"}, 0, []string{"ForecastBandwidth  pba 2", "valid until",
			"AnomalyScore       —", "series 0 has 23 samples; anomaly needs the last 577 samples", "RecommendCapacity  scaling 1.0.0"}},
		{"held link", []string{"held", "link", "a->b"}, 0, []string{"ForecastLink       link 1", "Mbit/s (q0.1..q0.9: ",
			"ForecastBandwidth  —"}},
		{"held nothing", []string{"held", "link", "nobody"}, 1, []string{`no answer for link "nobody"`}},
		{"report-actual link unmatched", []string{"report-actual", "link", "a->b", "1767225600", "900"}, 1, []string{"no served prediction waiting"}},
	}
	observeHeld(t, addr)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"-addr", addr}, tc.args...), &stdout, &stderr)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.exit, &stdout, &stderr)
			}
			out := stdout.String()
			if tc.exit != 0 {
				out = stderr.String()
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestUsage: bad usage is one line on stderr and exit 2; an absent sidecar is exit 1.
func TestUsage(t *testing.T) {
	nobody := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"no command", nil, 2, "no command"},
		{"unknown command", []string{"frob"}, 2, `unknown command "frob"`},
		{"reload without dir", []string{"reload"}, 2, "reload takes 1 argument(s), got 0"},
		{"demo with an argument", []string{"demo", "x"}, 2, "demo takes 0 argument(s), got 1"},
		{"rollout without action", []string{"rollout"}, 2, "rollout needs an action"},
		{"rollout unknown action", []string{"rollout", "frob"}, 2, `unknown rollout action "frob"`},
		{"rollout set bad flag", []string{"rollout", "set", "-canry", "x"}, 2, "rollout set: flag provided but not defined: -canry"},
		{"report-actual bad kind", []string{"report-actual", "cpu", "vm-1", "1", "2"}, 2, `kind "cpu"`},
		{"report-actual bad time", []string{"report-actual", "bandwidth", "vm-1", "soon", "2"}, 2, `timestamp "soon"`},
		{"held bad kind", []string{"held", "pod", "x"}, 2, `held: kind "pod"`},
		{"unknown flag", []string{"-x", "demo"}, 2, "flag provided but not defined: -x"},
		{"bad address", []string{"-addr", "nonsense", "versions"}, 2, `-addr: dwcp-ml: dial: target "nonsense"`},
		{"no sidecar", []string{"-addr", nobody, "-wait", "300ms", "versions"}, 1, "not serving"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.exit {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.exit, &stderr)
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "dwcp-client: error: ") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr is not one line with %q:\n%s", tc.want, msg)
			}
		})
	}
}

// observeHeld sends VM held-1 the golden PBA run (schema vm) and the scaling run (schema
// metric; too short for the anomaly model's 577-sample window), and link a->b the golden
// link run (schema link).
func observeHeld(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	b, err := bundle.Load(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ref := engine.EntityRef{Kind: engine.EntityVM, ID: "held-1"}
	pba, scaling := b.Goldens["pba"].Runs[0], b.Goldens["scaling"].Runs[0]
	if _, err := c.Observe(ctx, []engine.Samples{
		{Entity: ref, Schema: "vm", Timestamps: pba.Timestamps, Values: pba.Values},
		{Entity: ref, Schema: "metric", Timestamps: scaling.Timestamps, Values: scaling.Values},
		{Entity: engine.EntityRef{Kind: engine.EntityLink, ID: "a->b"}, Schema: "link",
			Timestamps: b.Goldens["link"].Runs[0].Timestamps, Values: b.Goldens["link"].Runs[0].Values},
	}); err != nil {
		t.Fatal(err)
	}
}
