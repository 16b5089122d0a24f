package featurecore_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// partitionVector is one record of golden/partition_v1.txt (docs/golden-format.md,
// "Partition vectors").
type partitionVector struct {
	name         string
	line         int
	forecast     []float64
	minBandwidth float64
	size         uint64
	requiresFEC  bool
	fecOverhead  float64
	maxStreams   int64
	status       string
	err          [3]int64
	chunks       []uint64
	used         []uint64
	expected     uint64
	seen         map[string]bool
}

var partitionInputs = []string{"forecast", "min_bandwidth", "size", "requires_fec", "fec_overhead",
	"max_streams", "status"}

func oneDouble(toks []string) (float64, error) {
	d, err := doubles(toks)
	if err == nil && len(d) != 1 {
		err = errors.New("want one double")
	}
	if err != nil {
		return 0, err
	}
	return d[0], nil
}

func uints(toks []string) ([]uint64, error) {
	out := make([]uint64, len(toks))
	for i, t := range toks {
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// readPartitionGolden parses a partition golden file strictly: an unknown or repeated key
// or a missing one is an error naming the line.
func readPartitionGolden(r io.Reader) (header map[string]string, vectors []*partitionVector, err error) {
	header = map[string]string{}
	var cur *partitionVector
	err = scanGolden(r, func(l goldenLine) error {
		key, toks, fail := l.key, l.toks, l.errorf
		if cur == nil {
			switch {
			case key == "vector" && len(toks) == 1:
				cur = &partitionVector{name: toks[0], line: l.no, seen: map[string]bool{}}
			case (key == "fc_version" || key == "partition_version") && len(toks) == 1 && header[key] == "":
				header[key] = toks[0]
			default:
				return fail("unexpected outside a vector")
			}
			return nil
		}
		if cur.seen[key] {
			return fail("repeated key")
		}
		cur.seen[key] = true
		var perr error
		switch key {
		case "end":
			for _, k := range partitionInputs {
				if !cur.seen[k] {
					return fail("vector %s lacks %q", cur.name, k)
				}
			}
			ok := cur.status == "FC_OK"
			if ok != (cur.seen["chunks"] && cur.seen["used"] && cur.seen["expected"]) || ok == cur.seen["error"] {
				return fail("vector %s: results do not match its status", cur.name)
			}
			vectors = append(vectors, cur)
			cur = nil
		case "forecast":
			cur.forecast, perr = doubles(toks)
		case "min_bandwidth":
			cur.minBandwidth, perr = oneDouble(toks)
		case "fec_overhead":
			cur.fecOverhead, perr = oneDouble(toks)
		case "size":
			var u []uint64
			if u, perr = uints(toks); perr == nil && len(u) != 1 {
				perr = errors.New("want one size")
			}
			if perr == nil {
				cur.size = u[0]
			}
		case "requires_fec":
			var n int64
			if n, perr = oneInt(toks); perr == nil && n != 0 && n != 1 {
				perr = errors.New("want 0 or 1")
			}
			cur.requiresFEC = n == 1
		case "max_streams":
			cur.maxStreams, perr = oneInt(toks)
		case "status":
			cur.status, perr = oneStatus(toks)
		case "error":
			cur.err, perr = errorLine(toks)
		case "chunks":
			cur.chunks, perr = uints(toks)
		case "used":
			cur.used, perr = uints(toks)
		case "expected":
			var d float64
			d, perr = oneDouble(toks)
			cur.expected = math.Float64bits(d)
		default:
			perr = errors.New("unknown key")
		}
		if perr != nil {
			return fail("%v", perr)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if cur != nil {
		return nil, nil, fmt.Errorf("vector %s (line %d) has no end", cur.name, cur.line)
	}
	return header, vectors, nil
}

// TestPartitionGolden re-runs every vector of golden/partition_v1.txt through cgo and
// requires the status, the error position, the chunks, the usable marks and the bits of
// the expected time that Python wrote and C checks.
func TestPartitionGolden(t *testing.T) {
	path := goldenFilePath("FEATURECORE_PARTITION_GOLDEN", "partition_v1.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open partition golden file: %v", err)
	}
	defer f.Close()
	header, vectors, err := readPartitionGolden(f)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if header["fc_version"] != featurecore.Version() {
		t.Fatalf("golden fc_version %q, linked core %q", header["fc_version"], featurecore.Version())
	}
	if header["partition_version"] != strconv.Itoa(featurecore.PartitionVersion) {
		t.Fatalf("golden partition_version %q, binding %d", header["partition_version"], featurecore.PartitionVersion)
	}
	if len(vectors) < 150 {
		t.Fatalf("%d partition vectors, want at least 150", len(vectors))
	}
	nOK := 0
	for _, v := range vectors {
		p := featurecore.PartitionParams{FECOverhead: v.fecOverhead, MaxStreams: int(v.maxStreams)}
		got, err := featurecore.PartitionChunks(p, v.forecast, v.minBandwidth, v.size, v.requiresFEC)
		if v.status != "FC_OK" {
			var fe *featurecore.Error
			if !errors.As(err, &fe) {
				t.Errorf("%s: want %s, got %v", v.name, v.status, err)
				continue
			}
			if fe.Status.String() != v.status || fe.Index != v.err[0] || int64(fe.Channel) != v.err[1] ||
				int64(fe.Feature) != v.err[2] {
				t.Errorf("%s: got %s at %d %d %d, golden %s at %v", v.name, fe.Status, fe.Index,
					fe.Channel, fe.Feature, v.status, v.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		if len(got.Chunks) != len(v.chunks) || len(got.Used) != len(v.used) {
			t.Errorf("%s: %d chunks, golden %d", v.name, len(got.Chunks), len(v.chunks))
			continue
		}
		for i := range got.Chunks {
			if got.Chunks[i] != v.chunks[i] || got.Used[i] != (v.used[i] == 1) {
				t.Errorf("%s: stream %d: chunk %d used %v, golden %d %d", v.name, i, got.Chunks[i],
					got.Used[i], v.chunks[i], v.used[i])
			}
		}
		if b := math.Float64bits(got.ExpectedSeconds); b != v.expected {
			t.Errorf("%s: expected seconds %016x, golden %016x", v.name, b, v.expected)
		}
		nOK++
	}
	if nOK < 120 {
		t.Errorf("only %d FC_OK vectors", nOK)
	}
}
