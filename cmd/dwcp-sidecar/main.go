package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/monitor"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/signing"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(context.Background(), os.Args[1:], sig, os.Stderr))
}

type config struct {
	bundle, bundleRoot, unix, tcp, metrics, ortLib string
	maxBatch                                       int
	shutdownTimeout                                time.Duration

	runtimeDir                    string // the default socket's private directory; "" with -unix
	socketMode                    fileMode
	adminUIDs                     uidList
	tlsCert, tlsKey, tlsClientCA  string
	insecure                      bool
	tls                           *tls.Config // from the -tls-* flags; nil = plaintext TCP
	maxConns, maxStreams          int
	idleTimeout, handshakeTimeout time.Duration
	limits                        runtime.Limits
	trustedKeys                   string           // -trusted-keys
	keys                          *signing.KeyRing // nil: bundles are not signature-checked
	rolloutPath                   string           // -rollout
	rollout                       rolloutConfig    // its content at start
	state                         string           // -state: the online store's snapshot file
	store                         store.Config     // -store-* bounds
}

// run is the command: it returns the exit status (0, 1 on failure, 2 on bad usage).
// Signals arrive on sig, so tests can send them.
func run(ctx context.Context, args []string, sig <-chan os.Signal, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dwcp-sidecar: error: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, cfg, sig, log); err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("dwcp-sidecar", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // bad usage is one line (run prints it); -h prints the usage
	fs.Usage = func() {}
	fs.StringVar(&cfg.bundle, "bundle", "golden/bundle", "model bundle `dir`ectory, also what SIGHUP and Reload \"\" reload")
	fs.StringVar(&cfg.bundleRoot, "bundle-root", "", "the Reload RPC loads only directories under this `dir` (default the parent of -bundle)")
	fs.StringVar(&cfg.unix, "unix", "", "Unix socket `path` to listen on (default "+client.DefaultSocket()+" unless -tcp is given)")
	cfg.socketMode = 0o660
	fs.Var(&cfg.socketMode, "socket-mode", "file `mode` of the Unix socket, octal (connecting needs write permission)")
	cfg.adminUIDs = uidList{uint32(os.Getuid())}
	fs.Var(&cfg.adminUIDs, "admin-uids", "comma-separated `uids` allowed admin calls (Reload, SetRollout) on the Unix socket")
	fs.StringVar(&cfg.tcp, "tcp", "", "TCP `address` to listen on, e.g. 127.0.0.1:9400 (beyond loopback only with TLS or -insecure)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM server certificate `file` for TLS on -tcp")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	fs.StringVar(&cfg.tlsClientCA, "tls-client-ca", "", "PEM CA `file` verifying client certificates; admin calls over TCP need one it verified")
	fs.BoolVar(&cfg.insecure, "insecure", false, "allow -tcp beyond loopback without TLS (logs a warning; admin calls stay refused there)")
	fs.IntVar(&cfg.maxConns, "max-conns", server.DefaultMaxConns, "most connections open at once; more are closed at accept")
	fs.IntVar(&cfg.maxStreams, "max-streams", server.DefaultMaxStreams, "most concurrent calls per connection")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close a connection without calls for this long")
	fs.DurationVar(&cfg.handshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "close a connection that has not finished TLS and the HTTP/2 preface by then")
	fs.StringVar(&cfg.metrics, "metrics", "127.0.0.1:9464", "`address` of the HTTP /metrics endpoint; empty disables it")
	fs.StringVar(&cfg.ortLib, "ort-lib", "", "libonnxruntime.so `path` (default $ONNXRUNTIME_LIB, then the project's .venv wheel)")
	fs.IntVar(&cfg.maxBatch, "max-batch", runtime.DefaultMaxBatch, "most rows or series per call")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let calls in flight finish on SIGINT/SIGTERM")
	fs.StringVar(&cfg.trustedKeys, "trusted-keys", "", "PEM public keys `file`: every bundle (at start and on reload) must carry a model.sig signed by one")
	fs.StringVar(&cfg.rolloutPath, "rollout", "", "JSON `file` of the canary, shadow and rollout policy, read at start and on SIGHUP (docs/rollout.md)")
	fs.StringVar(&cfg.state, "state", "", "snapshot `file` of the online feature store: restored at start, written on SIGINT/SIGTERM (docs/online-store.md)")
	fs.IntVar(&cfg.store.MaxEntities, "store-max-entities", store.DefaultMaxEntities, "most entity buffers the online store holds; a new one beyond is refused (ResourceExhausted)")
	fs.IntVar(&cfg.store.MaxSamples, "store-max-samples", store.DefaultMaxSamples, "most samples one entity buffer holds inside its window span")
	fs.DurationVar(&cfg.store.TTL, "store-ttl", store.DefaultTTL, "evict an entity not observed for this long")
	limitFlags(fs, &cfg.limits)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: dwcp-sidecar [flags]")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
		}
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["unix"] && !set["tcp"] {
		cfg.unix, cfg.runtimeDir = client.DefaultSocket(), client.RuntimeDir()
	}
	if !set["bundle-root"] {
		cfg.bundleRoot = defaultRoot(cfg.bundle)
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q; all options are flags (-h lists them)", fs.Arg(0))
	case cfg.unix == "" && cfg.tcp == "":
		return cfg, errors.New("nothing to listen on: give -unix PATH and/or -tcp ADDR")
	case cfg.bundle == "":
		return cfg, errors.New("-bundle is empty")
	case cfg.maxBatch < 1:
		return cfg, fmt.Errorf("-max-batch %d: must be at least 1", cfg.maxBatch)
	case cfg.shutdownTimeout <= 0:
		return cfg, fmt.Errorf("-shutdown-timeout %v: must be positive", cfg.shutdownTimeout)
	case cfg.bundleRoot == "":
		return cfg, errors.New("-bundle-root is empty")
	case cfg.maxConns < 1:
		return cfg, fmt.Errorf("-max-conns %d: must be at least 1", cfg.maxConns)
	case cfg.maxStreams < 1:
		return cfg, fmt.Errorf("-max-streams %d: must be at least 1", cfg.maxStreams)
	case cfg.idleTimeout <= 0:
		return cfg, fmt.Errorf("-idle-timeout %v: must be positive", cfg.idleTimeout)
	case cfg.handshakeTimeout <= 0:
		return cfg, fmt.Errorf("-handshake-timeout %v: must be positive", cfg.handshakeTimeout)
	case cfg.store.MaxEntities < 1:
		return cfg, fmt.Errorf("-store-max-entities %d: must be at least 1", cfg.store.MaxEntities)
	case cfg.store.MaxSamples < 2:
		return cfg, fmt.Errorf("-store-max-samples %d: must be at least 2", cfg.store.MaxSamples)
	case cfg.store.TTL <= 0:
		return cfg, fmt.Errorf("-store-ttl %v: must be positive", cfg.store.TTL)
	}
	if err := checkListen(&cfg, set); err != nil {
		return cfg, err
	}
	if cfg.trustedKeys != "" {
		keys, err := signing.LoadKeyRing(cfg.trustedKeys)
		if err != nil {
			return cfg, fmt.Errorf("-trusted-keys: %w", err)
		}
		cfg.keys = keys
	}
	if cfg.rolloutPath != "" {
		rc, err := readRollout(cfg.rolloutPath)
		if err != nil {
			return cfg, err
		}
		cfg.rollout = rc
	}
	var err error
	cfg.tls, err = serverTLS(cfg.tlsCert, cfg.tlsKey, cfg.tlsClientCA)
	return cfg, err
}

// runtimeConfig is the engine's configuration; with -trusted-keys every load checks model.sig.
func runtimeConfig(cfg config, log *slog.Logger) runtime.Config {
	rc := runtime.Config{LibraryPath: cfg.ortLib, MaxBatch: cfg.maxBatch, Limits: cfg.limits}
	if cfg.keys == nil {
		log.Warn("bundles are not signature-checked (no -trusted-keys)")
		return rc
	}
	log.Info("bundles must be signed", "trusted_keys", strings.Join(cfg.keys.IDs(), ","))
	rc.Verifier = cfg.keys.Verify
	return rc
}

type opened struct {
	eng *runtime.Engine
	err error
}

// serve listens, loads the bundle, serves until SIGINT/SIGTERM (reloading on SIGHUP) and
// shuts down in order: NOT_SERVING, drain, close the engine, remove the socket.
func serve(ctx context.Context, cfg config, sig <-chan os.Signal, log *slog.Logger) error {
	raiseOpenFiles(cfg.maxConns, log)
	mon, err := monitor.New(monitor.Config{})
	if err != nil {
		return err
	}
	rc := runtimeConfig(cfg, log)
	st := store.New(cfg.store)
	restoreState(st, cfg.state, log)
	evictCtx, stopEvict := context.WithCancel(ctx)
	defer stopEvict()
	go st.RunEviction(evictCtx, 0)
	var srv *server.Server
	open := func(ctx context.Context, dir string) (server.Opened, error) { return runtime.Open(ctx, dir, rc) }
	srv = server.New(server.Config{MaxBatch: cfg.maxBatch, Logger: log,
		BundleDir: cfg.bundle, BundleRoot: cfg.bundleRoot, AdminUIDs: cfg.adminUIDs, TLS: cfg.tls,
		MaxConns: cfg.maxConns, MaxStreams: cfg.maxStreams, IdleTimeout: cfg.idleTimeout, HandshakeTimeout: cfg.handshakeTimeout,
		Open: open, Signed: cfg.keys != nil, Monitor: mon, Store: st})
	rc.Observe = srv.ObserveModel // every engine's runs feed the live drift of its slot
	l, err := listen(cfg, log)
	if err != nil {
		return err
	}
	defer l.release(log)
	served := make(chan error, len(l.all))
	serving := len(l.all)
	for _, lis := range l.all {
		go func() { served <- srv.Serve(lis) }()
	}
	var metrics *http.Server
	if cfg.metrics != "" {
		if metrics, err = serveMetrics(cfg.metrics, srv, log); err != nil {
			l.close()
			return err
		}
	}

	// Load while already listening: clients see NOT_SERVING rather than no socket.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	loading := make(chan opened, 1)
	start := time.Now()
	go func() {
		eng, err := runtime.Open(loadCtx, cfg.bundle, rc)
		loading <- opened{eng, err}
	}()

	var eng *runtime.Engine
	var failure error
wait:
	for {
		select {
		case o := <-loading:
			loading = nil
			if o.err != nil {
				failure = fmt.Errorf("loading bundle %s: %w", cfg.bundle, o.err)
				break wait
			}
			eng = o.eng
			log.Info("bundle verified", "dir", cfg.bundle, "took", time.Since(start).Round(time.Millisecond))
			if err := srv.Attach(ctx, eng, eng); err != nil {
				failure = err
				break wait
			}
			if cfg.rolloutPath != "" {
				go func() { // a canary's verification must not hold up the signal loop
					if err := applyRollout(ctx, srv, cfg.rollout, log); err != nil {
						log.Error("rollout file not applied; serving the champion only", "file", cfg.rolloutPath, "err", err)
					}
				}()
			}
		case s := <-sig:
			if s != syscall.SIGHUP {
				log.Info("shutting down", "signal", s.String())
				break wait
			}
			if eng == nil {
				log.Warn("SIGHUP ignored: the bundle is still loading")
				continue
			}
			log.Info("reloading", "signal", s.String(), "dir", cfg.bundle)
			go func() {
				srv.Reload(ctx, cfg.bundle) // logs and counts the outcome; the loop stays responsive
				if cfg.rolloutPath != "" {
					reloadRollout(ctx, srv, cfg.rolloutPath, log)
				}
			}()
		case err := <-served:
			serving--
			failure = fmt.Errorf("serving: %w", err)
			break wait
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	for range serving { // each Serve closes its listener on return; l.release removes the socket
		<-served
	}
	if metrics != nil {
		if err := metrics.Shutdown(sctx); err != nil {
			metrics.Close()
		}
	}
	if err := saveState(st, cfg.state, log); err != nil && failure == nil {
		failure = err
	}
	if loading != nil { // still loading: stop, and close what it opened
		cancelLoad()
		eng = (<-loading).eng
	}
	if eng != nil {
		if err := eng.Close(); err != nil && failure == nil {
			failure = fmt.Errorf("closing the engine: %w", err)
		}
	}
	if failure == nil {
		log.Info("stopped")
	}
	return failure
}

// listening is what listen opened: the listeners, the Unix socket among them (nil
// without -unix).
type listening struct {
	all  []net.Listener
	sock *unixSocket
}

// listen opens the Unix socket and/or TCP listeners.
func listen(cfg config, log *slog.Logger) (*listening, error) {
	l := &listening{}
	if cfg.unix != "" {
		if cfg.runtimeDir != "" {
			if err := privateDir(cfg.runtimeDir); err != nil {
				return nil, err
			}
		}
		sock, err := listenUnix(cfg.unix, fs.FileMode(cfg.socketMode), log)
		if err != nil {
			return nil, err
		}
		l.sock, l.all = sock, append(l.all, sock)
		log.Info("listening", "unix", cfg.unix, "mode", cfg.socketMode.String(), "admin_uids", cfg.adminUIDs.String())
	}
	if cfg.tcp != "" {
		lis, err := net.Listen("tcp", cfg.tcp)
		if err != nil {
			l.close()
			l.release(log)
			return nil, fmt.Errorf("listening on tcp %s: %w", cfg.tcp, err)
		}
		l.all = append(l.all, lis)
		logTCP(cfg, lis.Addr().String(), log)
	}
	return l, nil
}

// logTCP says how TCP is served, and warns when it is plaintext beyond loopback.
func logTCP(cfg config, addr string, log *slog.Logger) {
	host, _, _ := net.SplitHostPort(cfg.tcp)
	switch {
	case cfg.tls != nil && cfg.tlsClientCA != "":
		log.Info("listening", "tcp", addr, "tls", true, "admin", "mutual TLS")
	case cfg.tls != nil:
		log.Info("listening", "tcp", addr, "tls", true, "admin", "refused (no -tls-client-ca)")
	case !isLoopback(host):
		log.Warn("listening without TLS beyond loopback (-insecure): any peer that reaches it may call the models unencrypted; admin calls are refused on it",
			"tcp", addr)
	default:
		log.Info("listening", "tcp", addr, "tls", false, "admin", "refused (no mutual TLS)")
	}
}

// close closes the listeners (Serve does it too, when it ran on them).
func (l *listening) close() {
	for _, lis := range l.all {
		lis.Close()
	}
}

// release removes the Unix socket (if still ours) and drops its lock; once, after Serve
// returned or close.
func (l *listening) release(log *slog.Logger) {
	if l.sock != nil {
		l.sock.release(log)
		l.sock = nil
	}
}

// raiseOpenFiles raises the soft limit of open files to the hard one (every connection
// is a file) and warns when -max-conns does not fit in it.
func raiseOpenFiles(maxConns int, log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("reading the open files limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	log.Info("open files limit", "soft", lim.Cur, "hard", lim.Max, "max_conns", maxConns)
	const reserve = 64 // the bundle's files, the metrics endpoint, the runtime's own
	if uint64(maxConns)+reserve > lim.Cur {
		log.Warn("-max-conns does not leave room for the bundle's files within the open files limit; lower it or raise the limit",
			"max_conns", maxConns, "limit", lim.Cur)
	}
}

func serveMetrics(addr string, srv *server.Server, log *slog.Logger) (*http.Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", srv.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("metrics", "url", "http://"+lis.Addr().String()+"/metrics")
	return hs, nil
}
