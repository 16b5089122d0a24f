package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// defaultBundle is the committed bundle.
var defaultBundle = testbundle.Dir()

// syncBuffer collects the log lines of run, which writes from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sidecar is run in a goroutine with its own signal channel.
type sidecar struct {
	sig  chan os.Signal
	log  *syncBuffer
	exit chan int
}

func start(t *testing.T, args ...string) *sidecar {
	t.Helper()
	s := &sidecar{sig: make(chan os.Signal, 1), log: &syncBuffer{}, exit: make(chan int, 1)}
	go func() { s.exit <- run(context.Background(), args, s.sig, s.log) }()
	t.Cleanup(func() {
		select {
		case s.sig <- syscall.SIGTERM:
		default:
		}
		<-s.exit
		if t.Failed() {
			t.Logf("sidecar log:\n%s", s.log)
		}
	})
	return s
}

func (s *sidecar) stop(t *testing.T) int {
	t.Helper()
	s.sig <- syscall.SIGTERM
	code := <-s.exit
	s.exit <- code // for the cleanup
	return code
}

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

func ready(t *testing.T, target string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSidecar runs the command on a Unix socket and TCP: it serves on both, exposes
// /metrics, reloads on SIGHUP (a bad bundle is refused and the old one kept), and on
// SIGTERM drains, removes its socket and exits 0.
func TestSidecar(t *testing.T) {
	ctx := context.Background()
	dir := testbundle.Copy(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	tcp, metrics := freeAddr(t), freeAddr(t)
	s := start(t, "-bundle", dir, "-unix", sock, "-tcp", tcp, "-metrics", metrics, "-shutdown-timeout", "5s")
	uds, loop := ready(t, "unix://"+sock), ready(t, tcp)

	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	run := b.Goldens["anomaly"].Runs[0]
	series := engine.Series{Timestamps: run.Timestamps, Values: run.Values}
	for _, c := range []*client.Client{uds, loop} {
		if res, err := c.AnomalyScore(ctx, series); err != nil || res.Model.Bundle != "default-1" {
			t.Fatalf("AnomalyScore: %+v, %v", res, err)
		}
	}
	if body := get(t, "http://"+metrics+"/metrics"); !strings.Contains(body, `dwcp_ml_bundle_info{bundle_version="default-1",slot="champion"} 1`) ||
		!strings.Contains(body, `dwcp_ml_requests_total{bundle_version="default-1",code="OK",method="AnomalyScore",model="anomaly",slot="champion"} 2`) {
		t.Errorf("/metrics lacks the bundle or the requests:\n%s", body)
	}

	// SIGHUP re-reads the bundle directory: first broken, then with a new version.
	testbundle.Write(t, filepath.Join(dir, "pba.onnx"), "truncated")
	s.sig <- syscall.SIGHUP
	waitLog(t, s.log, "reload refused")
	if v, err := uds.Versions(ctx); err != nil || v.Bundle != "default-1" {
		t.Fatalf("after a bad reload: %q, %v", v.Bundle, err)
	}
	restored, err := os.ReadFile(filepath.Join(defaultBundle, "pba.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	testbundle.Write(t, filepath.Join(dir, "pba.onnx"), string(restored))
	testbundle.EditManifest(t, dir, `"bundle_version": "default-1"`, `"bundle_version": "default-2"`)
	s.sig <- syscall.SIGHUP
	waitLog(t, s.log, "reloaded")
	if v, err := uds.Versions(ctx); err != nil || v.Bundle != "default-2" {
		t.Fatalf("after a good reload: %q, %v", v.Bundle, err)
	}
	if body := get(t, "http://"+metrics+"/metrics"); !strings.Contains(body, `dwcp_ml_reloads_total{result="error"} 1`) ||
		!strings.Contains(body, `dwcp_ml_reloads_total{result="ok"} 1`) {
		t.Errorf("/metrics lacks the reloads:\n%s", body)
	}

	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after exit: %v", err)
	}
	for _, msg := range []string{"listening", "bundle verified", "serving", "reloading", "shutting down", "drained", "stopped"} {
		if !hasLog(s.log.String(), msg) {
			t.Errorf("log lacks %q", msg)
		}
	}
}

// TestSocketFile: a socket left by a dead process is replaced; a live one, or a file that
// is not a socket, is an error (exit 1) and stays.
func TestSocketFile(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		exit    int
	}{
		{"stale socket", func(t *testing.T, path string) {
			lis, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			lis.SetUnlinkOnClose(false) // as a killed process leaves it
			lis.Close()
		}, 0},
		{"live socket", func(t *testing.T, path string) {
			lis, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lis.Close() })
		}, 1},
		{"regular file", func(t *testing.T, path string) { testbundle.Write(t, path, "not a socket") }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "s.sock")
			tc.prepare(t, sock)
			s := start(t, "-bundle", defaultBundle, "-unix", sock, "-metrics", "")
			if tc.exit != 0 {
				if code := <-s.exit; code != tc.exit {
					t.Fatalf("exit %d, want %d", code, tc.exit)
				}
				s.exit <- tc.exit
				if _, err := os.Lstat(sock); err != nil {
					t.Errorf("the existing file was removed: %v", err)
				}
				return
			}
			ready(t, "unix://"+sock)
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// TestFailures: bad usage exits 2 with one line; a bundle that fails to load exits 1 and
// leaves no socket behind.
func TestFailures(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"extra argument", []string{"serve"}, 2, `unexpected argument "serve"`},
		{"nothing to listen on", []string{"-unix", ""}, 2, "nothing to listen on"},
		{"unknown flag", []string{"-port", "1"}, 2, "flag provided but not defined"},
		{"bad max batch", []string{"-max-batch", "0"}, 2, "-max-batch 0"},
		{"not a bundle", []string{"-bundle", "", "-unix", "SOCK"}, 2, "-bundle is empty"},
		{"bad admin uid", []string{"-admin-uids", "0,root"}, 2, `"root" is not a numeric uid`},
		{"bad socket mode", []string{"-socket-mode", "1777"}, 2, `"1777" is not an octal file mode`},
		{"bad max conns", []string{"-max-conns", "0"}, 2, "-max-conns 0: must be at least 1"},
		{"bad max streams", []string{"-max-streams", "-1"}, 2, "-max-streams -1: must be at least 1"},
		{"bad idle timeout", []string{"-idle-timeout", "0s"}, 2, "-idle-timeout 0s: must be positive"},
		{"bad handshake timeout", []string{"-handshake-timeout", "-1s"}, 2, "-handshake-timeout -1s: must be positive"},
		{"tcp on every interface", []string{"-tcp", ":9400"}, 2, "-tcp :9400 listens beyond loopback without TLS"},
		{"tls without tcp", []string{"-tls-cert", "c.pem", "-tls-key", "k.pem"}, 2, "apply to -tcp"},
		{"cert without key", []string{"-tcp", "127.0.0.1:0", "-tls-cert", "c.pem"}, 2, "-tls-cert and -tls-key go together"},
		{"client CA without cert", []string{"-tcp", "127.0.0.1:0", "-tls-client-ca", "ca.pem"}, 2, "-tls-client-ca needs -tls-cert"},
		{"missing cert file", []string{"-tcp", "127.0.0.1:0", "-tls-cert", "EMPTY/c.pem", "-tls-key", "EMPTY/k.pem"}, 2, "-tls-cert/-tls-key: open "},
		{"insecure without tcp", []string{"-insecure"}, 2, "-insecure applies to -tcp"},
		{"rollout file missing", []string{"-rollout", "EMPTY/none.json"}, 2, "-rollout: open "},
		{"rollout unknown key", []string{"-rollout", "testdata/rollout-unknown-key.json"}, 2, `unknown field "weight"`},
		{"rollout bad steps", []string{"-rollout", "testdata/rollout-bad-steps.json"}, 2, "policy: steps [10 50]"},
		{"rollout bad duration", []string{"-rollout", "testdata/rollout-bad-duration.json"}, 2, `invalid duration "ten minutes"`},
		{"bundle fails to load", []string{"-bundle", "EMPTY", "-unix", "SOCK", "-metrics", ""}, 1, "manifest.json is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "s.sock")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.NewReplacer("SOCK", sock, "EMPTY", dir).Replace(a)
			}
			var out syncBuffer
			if code := run(context.Background(), args, make(chan os.Signal), &out); code != tc.exit {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.exit, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
			if tc.exit == 2 && (!strings.HasPrefix(out.String(), "dwcp-sidecar: error: ") || strings.Count(out.String(), "\n") != 1) {
				t.Errorf("bad usage is not one line:\n%s", out.String())
			}
			if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket left behind: %v", err)
			}
		})
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// waitLog waits until the log has a line with msg (the sidecar logs every event).
func waitLog(t *testing.T, log *syncBuffer, msg string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !hasLog(log.String(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", msg, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasLog reports whether log has a line whose message is msg.
func hasLog(log, msg string) bool {
	return strings.Contains(log, `msg="`+msg+`" `) || strings.Contains(log, "msg="+msg+" ") ||
		strings.Contains(log, "msg="+msg+"\n")
}
