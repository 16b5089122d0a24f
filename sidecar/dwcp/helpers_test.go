//go:build cgo

package dwcp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dwcp/dwcp-ml/internal/testbundle"
	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
	"github.com/dwcp/dwcp-ml/sidecar/server"
	"github.com/dwcp/dwcp-ml/sidecar/store"
)

// The tests run the adapters over the in-process engine on the committed bundle and over
// the pure-Go client of a real sidecar (sidecar/server serving that engine on a Unix
// socket), and require the same answers bit for bit.

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday, on the 300 s grid

func at(step int) time.Time { return t0.Add(time.Duration(step) * 5 * time.Minute) }

// inProcess is one in-process engine over golden/bundle for the whole test binary (ONNX
// Runtime is one library per process; verification at Open runs every golden).
var inProcess = sync.OnceValues(func() (*runtime.Engine, error) {
	eng, err := runtime.Open(context.Background(), testbundle.Dir(), runtime.Config{})
	opened = eng
	return eng, err
})

var opened *runtime.Engine // closed by TestMain

// TestMain closes the shared engine.
func TestMain(m *testing.M) {
	code := m.Run()
	if opened != nil {
		opened.Close()
	}
	os.Exit(code)
}

func openEngine(t testing.TB) *runtime.Engine {
	t.Helper()
	eng, err := inProcess()
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// online is a fresh in-process online store over eng: what the adapters keep their
// histories in without a sidecar.
func online(eng *runtime.Engine) *store.Online {
	return store.NewOnline(context.Background(), store.New(store.Config{}), eng)
}

// sidecar serves eng with sidecar/server on a Unix socket in a test directory and returns
// a ready client of it; both stop at the end of the test.
func sidecar(t testing.TB, eng *runtime.Engine) *client.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "dwcp-") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Attach(ctx, eng, nil); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, "unix://"+sock, client.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// sameBits reports where a and b differ, comparing every float by its bits, times by
// instant, and pointers by what they point to.
func sameBits(a, b any) error { return sameValue(reflect.ValueOf(a), reflect.ValueOf(b), "") }

func sameValue(a, b reflect.Value, path string) error {
	if a.IsValid() != b.IsValid() {
		return fmt.Errorf("%s: one is missing", path)
	}
	if !a.IsValid() {
		return nil
	}
	if a.Type() != b.Type() {
		return fmt.Errorf("%s: types %s and %s", path, a.Type(), b.Type())
	}
	if a.Type() == reflect.TypeOf(time.Time{}) {
		if !a.Interface().(time.Time).Equal(b.Interface().(time.Time)) {
			return fmt.Errorf("%s: %v != %v", path, a, b)
		}
		return nil
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		if math.Float64bits(a.Float()) != math.Float64bits(b.Float()) {
			return fmt.Errorf("%s: %v != %v (bits)", path, a.Float(), b.Float())
		}
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return fmt.Errorf("%s: one is nil", path)
		}
		if !a.IsNil() {
			return sameValue(a.Elem(), b.Elem(), path)
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if err := sameValue(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: lengths %d and %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if err := sameValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: sizes %d and %d", path, a.Len(), b.Len())
		}
		for _, k := range a.MapKeys() {
			if err := sameValue(a.MapIndex(k), b.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); err != nil {
				return err
			}
		}
	default:
		if a.Interface() != b.Interface() {
			return fmt.Errorf("%s: %v != %v", path, a, b)
		}
	}
	return nil
}
