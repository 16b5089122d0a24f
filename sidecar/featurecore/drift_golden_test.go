package featurecore_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// driftVector is one record of golden/drift_v1.txt (docs/golden-format.md, "Drift
// vectors").
type driftVector struct {
	name    string
	line    int
	call    string
	arrays  map[string][]float64 // values, edges, ref, live
	nBins   int64
	epsilon float64
	status  string
	err     [3]int64 // index, channel (FC_DRIFT_ARG_*), feature; status != FC_OK
	out     []uint64
	hasOut  bool
	seen    map[string]bool
}

// driftKeys are the input keys each call takes, exactly.
var driftKeys = map[string][]string{
	"ln":        {"values"},
	"edges":     {"values", "n_bins"},
	"histogram": {"values", "edges"},
	"psi":       {"ref", "live", "epsilon"},
	"ks":        {"ref", "live"},
}

// readDriftGolden parses a drift golden file strictly: an unknown or repeated key, a
// key the call does not take, or a number of the wrong width is an error naming the line.
func readDriftGolden(r io.Reader) (header map[string]string, vectors []*driftVector, err error) {
	header = map[string]string{}
	var cur *driftVector
	err = scanGolden(r, func(l goldenLine) error {
		key, toks, lineNo, fail := l.key, l.toks, l.no, l.errorf
		if cur == nil {
			switch {
			case key == "vector" && len(toks) == 1:
				cur = &driftVector{name: toks[0], line: lineNo, arrays: map[string][]float64{},
					seen: map[string]bool{}}
			case (key == "fc_version" || key == "drift_version") && len(toks) == 1 && header[key] == "":
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
			if perr = cur.complete(); perr == nil {
				vectors = append(vectors, cur)
				cur = nil
			}
		case "call":
			if _, ok := driftKeys[strings.Join(toks, " ")]; !ok {
				return fail("unknown call %q", toks)
			}
			cur.call = toks[0]
		case "values", "edges", "ref", "live":
			cur.arrays[key], perr = doubles(toks)
		case "n_bins":
			cur.nBins, perr = oneInt(toks)
		case "epsilon":
			var e []float64
			if e, perr = doubles(toks); perr == nil && len(e) != 1 {
				perr = errors.New("want one double")
			}
			if perr == nil {
				cur.epsilon = e[0]
			}
		case "status":
			cur.status, perr = oneStatus(toks)
		case "error":
			cur.err, perr = errorLine(toks)
		case "out":
			cur.out, perr = hexes64(toks)
			cur.hasOut = true
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

// complete checks that the vector has exactly the keys of its call.
func (v *driftVector) complete() error {
	want, ok := driftKeys[v.call]
	if !ok {
		return errors.New("vector has no call")
	}
	n := 0
	for _, k := range want {
		if !v.seen[k] {
			return fmt.Errorf("call %s needs %q", v.call, k)
		}
		n++
	}
	extra := map[bool]int{true: 1, false: 0}
	n += 3 + extra[v.seen["error"]] + extra[v.seen["out"]] // call, status, end
	if n != len(v.seen) {
		return fmt.Errorf("call %s: keys %v do not match its inputs %v", v.call, keys(v.seen), want)
	}
	if (v.status == "FC_OK") == v.seen["error"] || (v.status == "FC_OK") != v.hasOut {
		return errors.New("FC_OK needs out and no error; a failure the reverse")
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// runDrift calls the binding as the vector says; the error is the *Error the call returned.
func runDrift(v *driftVector) ([]float64, error) {
	a := v.arrays
	switch v.call {
	case "ln":
		out := make([]float64, len(a["values"]))
		for i, x := range a["values"] {
			y, err := featurecore.DriftLn(x)
			if err != nil {
				var fe *featurecore.Error
				if errors.As(err, &fe) {
					fe.Index = int64(i) // DriftLn is scalar: the vector's element is i
				}
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case "edges":
		return featurecore.QuantileEdges(a["values"], int(v.nBins))
	case "histogram":
		counts := make([]float64, max(len(a["edges"])-1, 0))
		return counts, featurecore.Histogram(a["values"], a["edges"], counts)
	case "psi":
		d, err := featurecore.PSI(a["ref"], a["live"], v.epsilon)
		return []float64{d}, err
	default:
		d, err := featurecore.KS(a["ref"], a["live"])
		return []float64{d}, err
	}
}

// TestDriftGolden runs every drift golden vector through the Go binding and requires the
// same status, error location and every output bit. A missing file is a failure.
func TestDriftGolden(t *testing.T) {
	path := goldenFilePath("FEATURECORE_DRIFT_GOLDEN", "drift_v1.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("drift golden vectors: %v (the file is committed; regenerate it with `python -m dwcp_ml.golden.drift`)", err)
	}
	defer f.Close()
	header, vectors, err := readDriftGolden(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if header["fc_version"] != featurecore.Version() {
		t.Errorf("%s: generated by feature core %s, linked core is %s", path, header["fc_version"], featurecore.Version())
	}
	if header["drift_version"] != strconv.Itoa(featurecore.DriftVersion) {
		t.Errorf("%s: drift_version %s, core %d", path, header["drift_version"], featurecore.DriftVersion)
	}
	calls := map[string]int{}
	for _, v := range vectors {
		calls[v.call]++
		t.Run(v.name, func(t *testing.T) {
			for _, problem := range checkDrift(v) {
				t.Error(problem)
			}
		})
	}
	if len(vectors) < 200 || len(calls) != len(driftKeys) {
		t.Errorf("%s: only %d vectors, calls %v", path, len(vectors), calls)
	}
	t.Logf("%s: %d vectors, calls %v", path, len(vectors), calls)
}

// checkDrift runs one vector and returns every difference, formatted as
// docs/golden-format.md specifies.
func checkDrift(v *driftVector) []string {
	got, err := runDrift(v)
	if err != nil {
		var fe *featurecore.Error
		if !errors.As(err, &fe) {
			return []string{fmt.Sprintf("vector %s: error %v is not a *featurecore.Error", v.name, err)}
		}
		gotErr := [3]int64{fe.Index, int64(fe.Channel), int64(fe.Feature)}
		if fe.Status.String() != v.status || gotErr != v.err {
			return []string{fmt.Sprintf("vector %s: expected %s %v, got %s %v (%v)", v.name,
				v.status, v.err, fe.Status, gotErr, err)}
		}
		return nil
	}
	if v.status != "FC_OK" {
		return []string{fmt.Sprintf("vector %s: expected %s %v, got FC_OK", v.name, v.status, v.err)}
	}
	if len(got) != len(v.out) {
		return []string{fmt.Sprintf("vector %s: out: expected %d values, got %d", v.name, len(v.out), len(got))}
	}
	var problems []string
	for k, want := range v.out {
		if b := math.Float64bits(got[k]); b != want {
			problems = append(problems, fmt.Sprintf("vector %s: out[%d]: expected 0x%016x, got 0x%016x (%d ULP)",
				v.name, k, want, b, ulp64(want, b)))
		}
	}
	return problems
}
