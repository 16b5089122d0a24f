package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/internal/testpki"
	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// The test binary doubles as the unprivileged peer of TestNobodyIsRefusedReload: run with
// peerEnv set, it calls the sidecar there and prints one line per call.
const (
	peerEnv         = "DWCP_SIDECAR_TEST_PEER"
	peerFeaturesEnv = "DWCP_SIDECAR_TEST_FEATURES"
	nobodyUID       = 65534
)

func TestMain(m *testing.M) {
	if target := os.Getenv(peerEnv); target != "" {
		os.Exit(peer(target, os.Getenv(peerFeaturesEnv)))
	}
	os.Exit(m.Run())
}

// peer calls Versions, Predict (anomaly, on features) and Reload on target and prints
// each outcome: "CALL: ok" or "CALL: CODE: message".
func peer(target, features string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, target)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		fmt.Println("wait ready:", err)
		return 1
	}
	var in []float64
	for f := range strings.SplitSeq(features, ",") {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			fmt.Println("features:", err)
			return 1
		}
		in = append(in, v)
	}
	fmt.Println("uid:", os.Getuid())
	_, err = c.Versions(ctx)
	fmt.Println("versions:", outcome(err))
	_, err = c.Predict(ctx, "anomaly", "", in)
	fmt.Println("predict:", outcome(err))
	fmt.Println("reload:", outcome(c.Reload(ctx, "")))
	return 0
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return engine.CodeOf(err).String() + ": " + err.Error()
}

// TestNobodyIsRefusedReload: a local user who can reach the socket (here mode 0666) but
// is not in -admin-uids (the default: the sidecar's own uid, root) gets the model calls
// and not Reload: PermissionDenied naming its uid; listed in -admin-uids, it may reload.
// It runs a peer process as nobody, so it needs root.
func TestNobodyIsRefusedReload(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatalf("this test runs a peer as uid %d (nobody) and needs root: run go test as root (uid %d now)", nobodyUID, os.Getuid())
	}
	// A directory nobody can enter, holding the copy of this binary and the socket.
	dir, err := os.MkdirTemp("", "dwcp-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "peer")
	copyFile(t, os.Args[0], bin, 0o755)
	tests := []struct {
		name string
		args []string
		want []string // in the peer's output
	}{
		{"default -admin-uids", nil, []string{"reload: permission denied: dwcp-ml: reload: uid 65534 (pid ",
			"on the Unix socket may not make admin calls", "-admin-uids"}},
		{"-admin-uids 0,65534", []string{"-admin-uids", "0,65534"}, []string{"reload: ok\n"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(dir, fmt.Sprintf("s%d.sock", i))
			start(t, append([]string{"-bundle", defaultBundle, "-unix", sock, "-socket-mode", "0666", "-metrics", ""}, tc.args...)...)
			owner := ready(t, "unix://"+sock)
			cmd := exec.Command(bin)
			cmd.Dir = dir
			cmd.Env = []string{peerEnv + "=unix://" + sock, peerFeaturesEnv + "=" + goldenRow(t, "anomaly")}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("peer as nobody: %v\n%s", err, out)
			}
			for _, want := range append([]string{"uid: 65534\n", "versions: ok\n", "predict: ok\n"}, tc.want...) {
				if !strings.Contains(string(out), want) {
					t.Errorf("peer output lacks %q:\n%s", want, out)
				}
			}
			if err := owner.Reload(context.Background(), ""); err != nil {
				t.Errorf("the owner's Reload: %v", err)
			}
		})
	}
}

// TestSighupReloadsBundle: after an RPC reload of another directory, SIGHUP serves
// -bundle again (not the directory of the last RPC reload).
func TestSighupReloadsBundle(t *testing.T) {
	ctx := context.Background()
	dir := testbundle.Copy(t)
	other := testbundle.WithVersion(t, "default-2") // a sibling: under the default root
	sock := filepath.Join(t.TempDir(), "s.sock")
	s := start(t, "-bundle", dir, "-unix", sock, "-metrics", "")
	c := ready(t, "unix://"+sock)
	if err := c.Reload(ctx, other); err != nil {
		t.Fatalf("RPC reload of %s: %v", other, err)
	}
	if v, err := c.Versions(ctx); err != nil || v.Bundle != "default-2" {
		t.Fatalf("after the RPC reload: %q, %v", v.Bundle, err)
	}
	s.sig <- syscall.SIGHUP
	waitServing(t, c, "default-1")
}

// TestSecondInstance: the socket's lock refuses a second sidecar on the same path, even
// after the socket file was removed; when the lock file was removed too, the second one
// serves, and the first one's exit leaves the second one's socket alone.
func TestSecondInstance(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	first := start(t, "-bundle", defaultBundle, "-unix", sock, "-metrics", "")
	ready(t, "unix://"+sock)

	second := func(t *testing.T) (int, string) {
		var out syncBuffer
		code := run(context.Background(), []string{"-bundle", defaultBundle, "-unix", sock, "-metrics", ""}, make(chan os.Signal), &out)
		return code, out.String()
	}
	want := "another dwcp-sidecar holds " + sock + ".lock"
	if code, out := second(t); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("second start: exit %d, want 1 with %q:\n%s", code, want, out)
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if code, out := second(t); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("second start after rm of the socket: exit %d, want 1 with %q:\n%s", code, want, out)
	}

	if err := os.Remove(sock + ".lock"); err != nil {
		t.Fatal(err)
	}
	start(t, "-bundle", defaultBundle, "-unix", sock, "-metrics", "")
	c := ready(t, "unix://"+sock)
	if code := first.stop(t); code != 0 {
		t.Fatalf("first instance: exit %d", code)
	}
	waitLog(t, first.log, "socket left in place: the file at its path is no longer the one this process created")
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the first instance removed the second one's socket: %v", err)
	}
	if v, err := c.Versions(context.Background()); err != nil || v.Bundle != "default-1" {
		t.Fatalf("the second instance after the first exited: %q, %v", v.Bundle, err)
	}
}

// TestRuntimeDir: without -unix the socket lives in $XDG_RUNTIME_DIR/dwcp-sidecar, created
// with mode 0700, the socket 0660; an existing directory others may enter, one owned by
// another uid, or a link is refused (exit 1) and left as it was.
func TestRuntimeDir(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string // "" = serves
	}{
		{"absent: created", func(*testing.T, string) {}, ""},
		{"existing, private", func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }, ""},
		{"mode 0777", func(t *testing.T, dir string) { mkdir(t, dir, 0o777) }, "has mode 0777; it must be 0700"},
		{"mode 0750", func(t *testing.T, dir string) { mkdir(t, dir, 0o750) }, "has mode 0750; it must be 0700"},
		{"owned by nobody", func(t *testing.T, dir string) {
			mkdir(t, dir, 0o700)
			if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
				t.Fatalf("chown needs root: %v", err)
			}
		}, "is owned by uid 65534, not by this process's uid"},
		{"a symbolic link", func(t *testing.T, dir string) {
			target := t.TempDir()
			mkdir(t, filepath.Join(target, "d"), 0o700)
			if err := os.Symlink(filepath.Join(target, "d"), dir); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
		{"a file", func(t *testing.T, dir string) { testbundle.Write(t, dir, "x") }, "is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xdg := t.TempDir()
			t.Setenv("XDG_RUNTIME_DIR", xdg)
			dir := filepath.Join(xdg, "dwcp-sidecar")
			tc.prepare(t, dir)
			before, _ := os.Lstat(dir)
			s := start(t, "-bundle", defaultBundle, "-metrics", "")
			if tc.want != "" {
				if code := <-s.exit; code != 1 {
					t.Fatalf("exit %d, want 1", code)
				}
				s.exit <- 1
				if !strings.Contains(s.log.String(), tc.want) {
					t.Errorf("log lacks %q:\n%s", tc.want, s.log)
				}
				if after, _ := os.Lstat(dir); after.Mode() != before.Mode() {
					t.Errorf("the directory changed: %v -> %v", before.Mode(), after.Mode())
				}
				return
			}
			sock := filepath.Join(dir, "dwcp-sidecar.sock")
			if sock != client.DefaultSocket() {
				t.Fatalf("socket %s, but client.DefaultSocket() = %s", sock, client.DefaultSocket())
			}
			ready(t, client.DefaultTarget())
			for path, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, sock: os.ModeSocket | 0o660} {
				if fi, err := os.Lstat(path); err != nil || fi.Mode() != want {
					t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
				}
			}
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket still there after exit: %v", err)
			}
		})
	}
}

// TestTCPAdmin: on TCP, Reload needs mutual TLS: plaintext loopback and TLS without a
// client certificate are refused PermissionDenied while the model calls work, a client
// certificate of -tls-client-ca reloads, one of another CA gets no connection.
func TestTCPAdmin(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := testpki.NewCA(t, "server-ca"), testpki.NewCA(t, "client-ca"), testpki.NewCA(t, "other-ca")
	cert, key := testpki.Write(t, dir, "server", serverCA.Server(t, "sidecar"))
	ca := clientCA.WriteCA(t, dir)
	plain, secure := freeAddr(t), freeAddr(t)
	start(t, "-bundle", defaultBundle, "-tcp", plain, "-metrics", "")
	start(t, "-bundle", defaultBundle, "-tcp", secure, "-tls-cert", cert, "-tls-key", key, "-tls-client-ca", ca, "-metrics", "")
	withTLS := func(cert *tls.Certificate) client.Option {
		cfg := &tls.Config{RootCAs: serverCA.Pool()}
		if cert != nil {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return client.WithTLSConfig(cfg)
	}
	operator, intruder := clientCA.Client(t, "operator"), otherCA.Client(t, "intruder")
	tests := []struct {
		name   string
		addr   string
		opts   []client.Option
		reload string // "" = Reload allowed, else a fragment of the refusal
	}{
		{"plaintext loopback", plain, nil, "(TCP without TLS) may not make admin calls"},
		{"tls, no client certificate", secure, []client.Option{withTLS(nil)}, "without a verified client certificate"},
		{"mutual tls", secure, []client.Option{withTLS(&operator)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := ready(t, tc.addr, tc.opts...)
			if _, err := c.Versions(ctx); err != nil {
				t.Fatalf("Versions: %v", err)
			}
			err := c.Reload(ctx, "")
			switch {
			case tc.reload == "" && err != nil:
				t.Fatalf("Reload: %v", err)
			case tc.reload != "" && (!errors.Is(err, engine.ErrPermissionDenied) || !strings.Contains(err.Error(), tc.reload)):
				t.Fatalf("Reload: got %v, want permission denied with %q", err, tc.reload)
			}
		})
	}
	t.Run("client certificate of another CA", func(t *testing.T) {
		c, err := client.Dial(context.Background(), secure, withTLS(&intruder))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Versions(ctx); !errors.Is(err, engine.ErrUnavailable) {
			t.Fatalf("Versions: got %v, want no connection (handshake refused)", err)
		}
	})
}

// TestConnectionFlags: with -max-conns 3 and -handshake-timeout 1s, three peers that send
// nothing and a fourth do not keep a real caller out (the fourth is refused at once and
// counted, the three dropped at the timeout); with -idle-timeout 200ms an idle gRPC
// connection is closed by the server (GOAWAY: the client goes IDLE).
func TestConnectionFlags(t *testing.T) {
	tcp, metrics := freeAddr(t), freeAddr(t)
	s := start(t, "-bundle", defaultBundle, "-tcp", tcp, "-metrics", metrics,
		"-max-conns", "3", "-handshake-timeout", "1s", "-idle-timeout", "200ms")
	ready(t, tcp).Close()
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", tcp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		idle = append(idle, c)
	}
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("idle peer %d was not dropped: %v", i, err)
		}
	}
	// At least the fourth; more if the slot of the first client was not yet given back.
	body := get(t, "http://"+metrics+"/metrics")
	if n, err := strconv.Atoi(metricValue(body, "dwcp_ml_connections_refused_total")); err != nil || n < 1 {
		t.Errorf("/metrics does not count the refused connection:\n%s", grepLines(body, "dwcp_ml_connections"))
	}
	if v, err := ready(t, tcp).Versions(context.Background()); err != nil || v.Bundle != "default-1" {
		t.Fatalf("a real call after the idle peers: %q, %v", v.Bundle, err)
	}

	conn, err := grpc.NewClient(tcp, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if !conn.WaitForStateChange(ctx, connectivity.Ready) || conn.GetState() != connectivity.Idle {
		t.Errorf("an idle connection is %v, want IDLE after -idle-timeout", conn.GetState())
	}
	for _, msg := range []string{"open files limit", "listening"} {
		if !hasLog(s.log.String(), msg) {
			t.Errorf("log lacks %q", msg)
		}
	}
}

// TestParseTrustFlags: -tcp beyond loopback needs TLS or -insecure; the loopback forms
// and the ones with TLS or -insecure are accepted (parsing only: nothing listens).
func TestParseTrustFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	cert, key := testpki.Write(t, dir, "server", ca.Server(t, "sidecar"))
	tests := []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"-tcp", "127.0.0.1:9400"}, ""},
		{[]string{"-tcp", "[::1]:9400"}, ""},
		{[]string{"-tcp", "localhost:9400"}, ""},
		{[]string{"-tcp", ":9400"}, "-tcp :9400 listens beyond loopback without TLS"},
		{[]string{"-tcp", "0.0.0.0:9400"}, "-tcp 0.0.0.0:9400 listens beyond loopback without TLS"},
		{[]string{"-tcp", "[::]:9400"}, "-tcp [::]:9400 listens beyond loopback without TLS"},
		{[]string{"-tcp", "192.0.2.7:9400"}, "listens beyond loopback without TLS"},
		{[]string{"-tcp", "sidecar.example:9400"}, "listens beyond loopback without TLS"},
		{[]string{"-tcp", ":9400", "-insecure"}, ""},
		{[]string{"-tcp", ":9400", "-tls-cert", cert, "-tls-key", key}, ""},
		{[]string{"-tcp", ":9400", "-tls-cert", cert, "-tls-key", key, "-tls-client-ca", ca.WriteCA(t, dir)}, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseFlags(tc.args, io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && cfg.tlsCert != "" && cfg.tls == nil:
				t.Fatal("TLS flags but no TLS configuration")
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// waitServing waits until c serves bundle version want.
func waitServing(t *testing.T, c *client.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := c.Versions(context.Background())
		if err == nil && v.Bundle == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serving %q (%v), want %q", v.Bundle, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goldenRow is row 0 of model's golden input, comma-separated, exactly.
func goldenRow(t *testing.T, model string) string {
	t.Helper()
	b, err := bundle.Load(defaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	g := b.Goldens[model]
	row := g.Input[:len(g.Input)/int(g.InputShape[0])]
	s := make([]string, len(row))
	for i, v := range row {
		s[i] = strconv.FormatFloat(float64(v), 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// metricValue is the value of the unlabelled sample name in a /metrics body.
func metricValue(body, name string) string {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func grepLines(text, substr string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
