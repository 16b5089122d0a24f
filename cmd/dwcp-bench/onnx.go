package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// onnxMode is `dwcp-bench -onnx FILE`: one ONNX file outside any bundle, in a session made
// as the served ones are (runtime.OpenONNXFile). Without inputHex it times calls one-row
// (or shape) calls on fixed pseudo-random standard-normal inputs (the features are
// normalised, so that is the range a served model sees); with inputHex it runs the
// big-endian float32 hex input in that file once and prints the output bits, so that a
// test can compare them with Python ONNX Runtime's.
type onnxMode struct {
	file, shape, inputHex, ortLib string
	calls                         int
	json                          bool
}

type onnxLatency struct {
	ONNX        string  `json:"onnx"`
	Shape       []int64 `json:"shape"`
	OutputShape []int64 `json:"output_shape"`
	Calls       int     `json:"calls"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	ORT         string  `json:"onnxruntime"`
}

type onnxOutput struct {
	ONNX        string  `json:"onnx"`
	Shape       []int64 `json:"shape"`
	OutputShape []int64 `json:"output_shape"`
	Float32     string  `json:"float32"` // big-endian bit patterns, as in golden files
	ORT         string  `json:"onnxruntime"`
}

func (o onnxMode) run(out io.Writer) error {
	shape, err := parseShape(o.shape)
	if err != nil {
		return err
	}
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	in := make([]float32, n)
	if o.inputHex != "" {
		if in, err = readHex32(o.inputHex, n); err != nil {
			return err
		}
	} else {
		r := rand.New(rand.NewPCG(1, 2))
		for i := range in {
			in[i] = float32(r.NormFloat64())
		}
	}
	f, err := runtime.OpenONNXFile(o.file, o.ortLib)
	if err != nil {
		return err
	}
	defer f.Close()
	outShape, first, err := f.OutputShape(in, shape)
	if err != nil {
		return err
	}
	res := make([]float32, len(first))
	call := func() error { return f.Run(in, shape, res, outShape) }
	if o.inputHex != "" {
		if err := call(); err != nil {
			return err
		}
		b := make([]byte, 4*len(res))
		for i, v := range res {
			binary.BigEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return printResult(out, o.json, onnxOutput{o.file, shape, outShape, hex.EncodeToString(b),
			f.LibraryVersion}, func() string {
			return fmt.Sprintf("%s %v -> %v: %x\n", o.file, shape, outShape, b)
		})
	}
	if o.calls < 1 {
		return fmt.Errorf("-calls %d: need at least 1", o.calls)
	}
	p, err := measure(o.calls, call)
	if err != nil {
		return err
	}
	return printResult(out, o.json, onnxLatency{o.file, shape, outShape, o.calls, p.P50, p.P99,
		f.LibraryVersion}, func() string {
		return fmt.Sprintf("%s %v: p50 %.1f µs, p99 %.1f µs over %d calls (Go in-process, ONNX "+
			"Runtime %s, 1 thread)\n", o.file, shape, p.P50, p.P99, o.calls, f.LibraryVersion)
	})
}

func printResult(out io.Writer, asJSON bool, v any, text func() string) error {
	if !asJSON {
		_, err := io.WriteString(out, text())
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// parseShape reads "1x108" or "9x12x14": positive dimensions separated by x.
func parseShape(s string) ([]int64, error) {
	var shape []int64
	for _, part := range strings.Split(s, "x") {
		d, err := strconv.ParseInt(part, 10, 64)
		if err != nil || d < 1 || d > 1<<24 {
			return nil, fmt.Errorf("-shape %q: want positive dimensions joined by x, e.g. 1x108", s)
		}
		shape = append(shape, d)
	}
	return shape, nil
}

// readHex32 reads n big-endian float32 bit patterns written as hexadecimal (whitespace
// ignored), the encoding of the golden files' tensors.
func readHex32(path string, n int) ([]float32, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
	if err != nil {
		return nil, fmt.Errorf("-input-hex %s: %w", path, err)
	}
	if len(b) != 4*n {
		return nil, fmt.Errorf("-input-hex %s: %d float32 values, -shape needs %d", path, len(b)/4, n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
