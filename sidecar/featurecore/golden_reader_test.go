package featurecore_test

// Reader of the golden feature and placement vectors (docs/golden-format.md). Test-only:
// golden files are inputs of tests, never of the serving path.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// goldenFilePath is the committed golden/<name>; the environment variable env overrides it
// (to try a freshly generated file before committing it).
func goldenFilePath(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	return "../../golden/" + name
}

type goldenFile struct {
	version   string            // fc_version
	hashes    map[string]uint64 // schema_hash lines, by schema name
	placeHash uint64            // place_hash line (placement files)
	hasPlace  bool
	vectors   []*goldenVector
}

// placeArrays are the input arrays of a place vector, in fc_place_factors order.
var placeArrays = []string{"vm_request", "vm_history", "vm_info", "host_capacity",
	"host_allocated", "host_usage", "host_info"}

type goldenVector struct {
	name string
	line int // line of "vector"
	call string
	// fc_params fields
	schema                     string
	seqLen, statWindow         int64
	stepSeconds, fillLimit     int64
	center, scale              []float64
	stride                     int64 // windows
	t0, nBins                  int64 // resample
	ts                         []int64
	values                     []float64
	status                     string
	errIndex, errChan, errFeat int64 // "error" line, status != FC_OK
	nWindows                   int64 // windows, status FC_OK
	out32                      []uint32
	out64                      []uint64 // resample
	counts                     []uint32 // resample
	history, nHosts            int64    // place
	place                      map[string][]float64
	seen                       map[string]bool
}

func (v *goldenVector) has(key string) bool { return v.seen[key] }

// readGolden parses a golden feature file strictly: an unknown or repeated key, a missing
// required key, or a number of the wrong width is an error naming the line, so a format
// change is noticed rather than half-read.
// goldenLine is one line of a golden file after its version line, neither blank nor a
// comment: the key and its space-separated tokens.
type goldenLine struct {
	no   int
	key  string
	toks []string
}

func (l goldenLine) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d (%s): %s", l.no, l.key, fmt.Sprintf(format, args...))
}

// scanGolden checks the version line of a golden file (feature, placement or drift
// vectors) and calls fn on every other line that is neither blank nor a comment, stopping
// at fn's first error.
func scanGolden(r io.Reader, fn func(goldenLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			if line != "dwcp-fc-golden 1" {
				return fmt.Errorf("line 1: %q, want \"dwcp-fc-golden 1\"", line)
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, " ")
		if err := fn(goldenLine{lineNo, fields[0], fields[1:]}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if lineNo == 0 {
		return fmt.Errorf("empty file")
	}
	return nil
}

func readGolden(r io.Reader) (*goldenFile, error) {
	g := &goldenFile{hashes: map[string]uint64{}}
	var cur *goldenVector
	names := map[string]int{}
	err := scanGolden(r, func(l goldenLine) error {
		key, toks, lineNo, fail := l.key, l.toks, l.no, l.errorf
		if cur == nil {
			switch key {
			case "fc_version":
				if len(toks) != 1 {
					return fail("want one token")
				}
				g.version = toks[0]
			case "place_hash":
				if len(toks) != 1 || len(toks[0]) != 16 || g.hasPlace {
					return fail("want one place_hash of 16 hex digits")
				}
				h, err := strconv.ParseUint(toks[0], 16, 64)
				if err != nil {
					return fail("%v", err)
				}
				g.placeHash, g.hasPlace = h, true
			case "schema_hash":
				if len(toks) != 2 || len(toks[1]) != 16 {
					return fail("want <schema> <16 hex digits>")
				}
				h, err := strconv.ParseUint(toks[1], 16, 64)
				if err != nil {
					return fail("%v", err)
				}
				g.hashes[toks[0]] = h
			case "vector":
				if len(toks) != 1 {
					return fail("want one name")
				}
				if prev, dup := names[toks[0]]; dup {
					return fail("vector %q already defined on line %d", toks[0], prev)
				}
				names[toks[0]] = lineNo
				cur = &goldenVector{name: toks[0], line: lineNo, seen: map[string]bool{},
					place: map[string][]float64{}}
			default:
				return fail("unexpected outside a vector")
			}
			return nil
		}
		if key == "end" {
			if err := cur.complete(); err != nil {
				return fmt.Errorf("vector %s (line %d): %v", cur.name, cur.line, err)
			}
			g.vectors = append(g.vectors, cur)
			cur = nil
			return nil
		}
		if cur.seen[key] {
			return fail("repeated in vector %s", cur.name)
		}
		cur.seen[key] = true
		var err error
		switch key {
		case "call":
			if len(toks) != 1 {
				return fail("want one token")
			}
			cur.call = toks[0]
		case "schema":
			if len(toks) != 1 {
				return fail("want one token")
			}
			cur.schema = toks[0]
		case "status":
			if len(toks) != 1 {
				return fail("want one token")
			}
			cur.status = toks[0]
		case "seq_len":
			cur.seqLen, err = oneInt(toks)
		case "stat_window":
			cur.statWindow, err = oneInt(toks)
		case "step_seconds":
			cur.stepSeconds, err = oneInt(toks)
		case "fill_limit":
			cur.fillLimit, err = oneInt(toks)
		case "stride":
			cur.stride, err = oneInt(toks)
		case "t0":
			cur.t0, err = oneInt(toks)
		case "n_bins":
			cur.nBins, err = oneInt(toks)
		case "n_windows":
			cur.nWindows, err = oneInt(toks)
		case "history":
			cur.history, err = oneInt(toks)
		case "n_hosts":
			cur.nHosts, err = oneInt(toks)
		case "vm_request", "vm_history", "vm_info", "host_capacity", "host_allocated", "host_usage", "host_info":
			cur.place[key], err = doubles(toks)
		case "center":
			cur.center, err = doubles(toks)
		case "scale":
			cur.scale, err = doubles(toks)
		case "values":
			cur.values, err = doubles(toks)
		case "ts":
			cur.ts, err = ints(toks)
		case "error":
			var e [3]int64
			e, err = errorLine(toks)
			cur.errIndex, cur.errChan, cur.errFeat = e[0], e[1], e[2]
		case "out":
			if cur.call == "resample" {
				cur.out64, err = hexes64(toks)
			} else {
				cur.out32, err = hexes32(toks)
			}
		case "counts":
			var c []int64
			c, err = ints(toks)
			for _, n := range c {
				if n < 0 || n > math.MaxUint32 {
					err = fmt.Errorf("count %d out of range", n)
				}
				cur.counts = append(cur.counts, uint32(n))
			}
		default:
			return fail("unknown key in vector %s", cur.name)
		}
		if err != nil {
			return fail("%v", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("vector %s (line %d): no \"end\"", cur.name, cur.line)
	}
	if g.version == "" {
		return nil, fmt.Errorf("no fc_version line")
	}
	return g, nil
}

// complete checks that a vector has the keys its call needs (and no others).
func (v *goldenVector) complete() error {
	if v.call == "place" {
		return v.completePlace()
	}
	required := []string{"call", "schema", "seq_len", "stat_window", "step_seconds", "fill_limit",
		"center", "scale", "ts", "values", "status"}
	forbidden := append([]string{"history", "n_hosts"}, placeArrays...)
	var only []string
	switch v.call {
	case "window":
		forbidden = append(forbidden, "stride", "t0", "n_bins", "n_windows", "counts")
	case "windows":
		required = append(required, "stride")
		forbidden = append(forbidden, "t0", "n_bins", "counts")
	case "resample":
		required = append(required, "t0", "n_bins")
		forbidden = append(forbidden, "stride", "n_windows")
	default:
		return fmt.Errorf("call %q, want window, windows, resample or place", v.call)
	}
	ok := v.status == "FC_OK"
	switch {
	case ok && v.call == "windows":
		only = []string{"n_windows", "out"}
	case ok && v.call == "resample":
		only = []string{"out", "counts"}
	case ok:
		only = []string{"out"}
	default:
		only = []string{"error"}
		forbidden = append(forbidden, "out", "counts", "n_windows")
	}
	for _, k := range append(required, only...) {
		if !v.seen[k] {
			return fmt.Errorf("missing %q (call %s, status %s)", k, v.call, v.status)
		}
	}
	for _, k := range forbidden {
		if v.seen[k] {
			return fmt.Errorf("unexpected %q (call %s, status %s)", k, v.call, v.status)
		}
	}
	if ok && v.seen["error"] {
		return fmt.Errorf("\"error\" with status FC_OK")
	}
	if len(v.center) != len(v.scale) {
		return fmt.Errorf("center has %d values, scale %d", len(v.center), len(v.scale))
	}
	return nil
}

// completePlace checks a place vector: params, n_hosts, the seven arrays and the result.
func (v *goldenVector) completePlace() error {
	required := append([]string{"call", "history", "step_seconds", "n_hosts", "status"}, placeArrays...)
	forbidden := []string{"schema", "seq_len", "stat_window", "fill_limit", "center", "scale", "ts",
		"values", "stride", "t0", "n_bins", "n_windows", "counts"}
	if v.status == "FC_OK" {
		required = append(required, "out")
		forbidden = append(forbidden, "error")
	} else {
		required = append(required, "error")
		forbidden = append(forbidden, "out")
	}
	for _, k := range required {
		if !v.seen[k] {
			return fmt.Errorf("missing %q (call place, status %s)", k, v.status)
		}
	}
	for _, k := range forbidden {
		if v.seen[k] {
			return fmt.Errorf("unexpected %q (call place, status %s)", k, v.status)
		}
	}
	return nil
}

// oneStatus reads a "status" line: one fc_status name.
func oneStatus(toks []string) (string, error) {
	if len(toks) != 1 {
		return "", errors.New("want one status name")
	}
	return toks[0], nil
}

// errorLine reads an "error" line: the fc_error's index, channel and feature.
func errorLine(toks []string) ([3]int64, error) {
	var e [3]int64
	v, err := ints(toks)
	if err == nil && len(v) != len(e) {
		err = errors.New("want <index> <channel> <feature>")
	}
	if err == nil {
		copy(e[:], v)
	}
	return e, err
}

func oneInt(toks []string) (int64, error) {
	if len(toks) != 1 {
		return 0, fmt.Errorf("want one integer, got %d tokens", len(toks))
	}
	return strconv.ParseInt(toks[0], 10, 64)
}

func ints(toks []string) ([]int64, error) {
	out := make([]int64, len(toks))
	for i, t := range toks {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("token %d: %v", i, err)
		}
		out[i] = n
	}
	return out, nil
}

func hexes(toks []string, digits int) ([]uint64, error) {
	out := make([]uint64, len(toks))
	for i, t := range toks {
		if len(t) != digits || strings.ToLower(t) != t {
			return nil, fmt.Errorf("token %d: %q is not %d lower-case hex digits", i, t, digits)
		}
		n, err := strconv.ParseUint(t, 16, digits*4)
		if err != nil {
			return nil, fmt.Errorf("token %d: %v", i, err)
		}
		out[i] = n
	}
	return out, nil
}

func hexes64(toks []string) ([]uint64, error) { return hexes(toks, 16) }

func hexes32(toks []string) ([]uint32, error) {
	h, err := hexes(toks, 8)
	out := make([]uint32, len(h))
	for i, b := range h {
		out[i] = uint32(b)
	}
	return out, err
}

func doubles(toks []string) ([]float64, error) {
	h, err := hexes64(toks)
	out := make([]float64, len(h))
	for i, b := range h {
		out[i] = math.Float64frombits(b)
	}
	return out, err
}

// ulp32 is the distance in ULPs between two float32 bit patterns on the monotonic integer
// line (negative values mirrored below zero, so 0.0 and -0.0 are 0 apart).
func ulp32(a, b uint32) uint64 {
	mono := func(x uint32) int64 {
		if x&0x80000000 != 0 {
			return -int64(x & 0x7fffffff)
		}
		return int64(x)
	}
	d := mono(a) - mono(b)
	if d < 0 {
		d = -d
	}
	return uint64(d)
}

// ulp64 is ulp32 for doubles.
func ulp64(a, b uint64) uint64 {
	mono := func(x uint64) (neg bool, mag uint64) { return x>>63 != 0, x &^ (1 << 63) }
	na, ma := mono(a)
	nb, mb := mono(b)
	switch {
	case na == nb && ma >= mb:
		return ma - mb
	case na == nb:
		return mb - ma
	default:
		return ma + mb // opposite signs: through zero (saturating is not needed below 2^63)
	}
}
