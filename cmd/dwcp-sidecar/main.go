package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
)

const defaultSocket = "/tmp/dwcp-sidecar.sock"

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(context.Background(), os.Args[1:], sig, os.Stderr))
}

type config struct {
	bundle, unix, tcp, metrics, ortLib string
	maxBatch                           int
	shutdownTimeout                    time.Duration
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
	fs.StringVar(&cfg.bundle, "bundle", "golden/bundle", "model bundle `dir`ectory")
	fs.StringVar(&cfg.unix, "unix", "", "Unix socket `path` to listen on (default "+defaultSocket+" unless -tcp is given)")
	fs.StringVar(&cfg.tcp, "tcp", "", "TCP `address` to listen on, e.g. 127.0.0.1:9400")
	fs.StringVar(&cfg.metrics, "metrics", "127.0.0.1:9464", "`address` of the HTTP /metrics endpoint; empty disables it")
	fs.StringVar(&cfg.ortLib, "ort-lib", "", "libonnxruntime.so `path` (default $ONNXRUNTIME_LIB, then the project's .venv wheel)")
	fs.IntVar(&cfg.maxBatch, "max-batch", runtime.DefaultMaxBatch, "most rows or series per call")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let calls in flight finish on SIGINT/SIGTERM")
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
		cfg.unix = defaultSocket
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
	}
	return cfg, nil
}

type opened struct {
	eng *runtime.Engine
	err error
}

// serve listens, loads the bundle, serves until SIGINT/SIGTERM (reloading on SIGHUP) and
// shuts down in order: NOT_SERVING, drain, close the engine, remove the socket.
func serve(ctx context.Context, cfg config, sig <-chan os.Signal, log *slog.Logger) error {
	srv := server.New(server.Config{MaxBatch: cfg.maxBatch, Logger: log})
	listeners, err := listen(cfg, log)
	if err != nil {
		return err
	}
	served := make(chan error, len(listeners))
	serving := len(listeners)
	for _, lis := range listeners {
		go func() { served <- srv.Serve(lis) }()
	}
	var metrics *http.Server
	if cfg.metrics != "" {
		if metrics, err = serveMetrics(cfg.metrics, srv, log); err != nil {
			closeAll(listeners)
			return err
		}
	}

	// Load while already listening: clients see NOT_SERVING rather than no socket.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	loading := make(chan opened, 1)
	start := time.Now()
	go func() {
		eng, err := runtime.Open(loadCtx, cfg.bundle, runtime.Config{LibraryPath: cfg.ortLib, MaxBatch: cfg.maxBatch})
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
			go srv.Reload(ctx, "") // logs and counts the outcome; the loop stays responsive
		case err := <-served:
			serving--
			failure = fmt.Errorf("serving: %w", err)
			break wait
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	for range serving { // each Serve closes its listener (removing the socket file) on return
		<-served
	}
	if metrics != nil {
		if err := metrics.Shutdown(sctx); err != nil {
			metrics.Close()
		}
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

// listen opens the Unix socket and/or TCP listeners.
func listen(cfg config, log *slog.Logger) ([]net.Listener, error) {
	var out []net.Listener
	if cfg.unix != "" {
		lis, err := listenUnix(cfg.unix, log)
		if err != nil {
			return nil, err
		}
		out = append(out, lis)
		log.Info("listening", "unix", cfg.unix)
	}
	if cfg.tcp != "" {
		lis, err := net.Listen("tcp", cfg.tcp)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("listening on tcp %s: %w", cfg.tcp, err)
		}
		out = append(out, lis)
		log.Info("listening", "tcp", lis.Addr().String())
	}
	return out, nil
}

// listenUnix listens on path, first removing a socket file that no process serves (left by
// one that died); a live socket or any other file there is an error.
func listenUnix(path string, log *slog.Logger) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return nil, fmt.Errorf("%s: another process is serving on this socket", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: probing the existing socket: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
		log.Warn("removed a stale socket", "unix", path)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on unix %s: %w", path, err)
	}
	return lis, nil
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

func closeAll(listeners []net.Listener) {
	for _, lis := range listeners {
		lis.Close()
	}
}
