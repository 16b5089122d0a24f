// Command dwcp-parity runs a bundle's golden predictions through the Go runtime (feature
// core through cgo, ONNX Runtime through onnxruntime_go) and prints one line per model:
// match, or the first differing value. It regenerates nothing. `dwcp-ml parity` runs it
// beside the Python check.
//
//	dwcp-parity [-ort-lib PATH] [-json] BUNDLE
//
// Exit status: 0 every model matches, 1 a model differs, 2 the bundle or the library could
// not be checked at all (the one-line error says why).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dwcp-parity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lib := fs.String("ort-lib", "", "libonnxruntime.so (default $ONNXRUNTIME_LIB, then the .venv wheel)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "dwcp-parity: error: want one bundle directory, e.g. dwcp-parity golden/bundle")
		return 2
	}
	dir := fs.Arg(0)
	manifest, results, err := runtime.Parity(context.Background(), dir, runtime.Config{LibraryPath: *lib})
	if err != nil {
		fmt.Fprintf(stderr, "dwcp-parity: error: %v\n", err)
		return 2
	}
	ok := true
	for _, r := range results {
		ok = ok && r.OK
	}
	if *asJSON {
		out, _ := json.MarshalIndent(map[string]any{
			"bundle": dir, "version": manifest.BundleVersion, "models": results,
		}, "", "  ")
		fmt.Fprintln(stdout, string(out))
	} else {
		for _, r := range results {
			status := "match"
			if !r.OK {
				status = "MISMATCH"
			}
			fmt.Fprintf(stdout, "%-12s %s  %s\n", r.Model, status, r.Detail)
		}
	}
	if !ok {
		return 1
	}
	return 0
}
