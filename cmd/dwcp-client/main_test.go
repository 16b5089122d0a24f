package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

// defaultBundle is the committed bundle (tests run in the package directory).
var defaultBundle = filepath.Join("..", "..", "golden", "bundle")

// sidecar serves the committed bundle on a Unix socket in a test directory and returns
// the -addr that reaches it.
func sidecar(t *testing.T) string {
	t.Helper()
	eng, err := runtime.Open(context.Background(), defaultBundle, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{})
	sock := filepath.Join(t.TempDir(), "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
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
	return "unix://" + sock
}

func TestCommands(t *testing.T) {
	addr := sidecar(t)
	abs, err := filepath.Abs(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		exit int
		want []string // in stdout, or in stderr when exit != 0
	}{
		{"demo", []string{"-bundle", defaultBundle, "demo"}, 0, []string{"bundle default-1",
			"ForecastBandwidth  pba 0.1.0", "AnomalyScore       anomaly 1", "RecommendCapacity  scaling 1.0.0",
			"Predict            anomaly", "27 features (golden row 0)", "PlaceVM            itp 1.0.0", "hosts feasible"}},
		{"versions", []string{"versions"}, 0, []string{"bundle default-1", "pba      pba      0.1.0    vm"}},
		{"reload", []string{"reload", defaultBundle}, 0, []string{"reloaded " + abs, "bundle default-1 from " + abs}},
		{"reload refused", []string{"reload", t.TempDir()}, 1, []string{"dwcp-client: error: ", "still serving default-1", "manifest.json: missing"}},
		{"demo without goldens", []string{"-bundle", t.TempDir(), "demo"}, 1, []string{"golden inputs: "}},
	}
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
