package runtime

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/dwcp/dwcp-ml/sidecar/bundle"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// FamilyPlacement is the model family PlaceVM uses (its first model in manifest order).
const FamilyPlacement = "itp"

// DefaultMaxHosts bounds the hosts of one placement call (all its requests together) when
// Config.MaxHosts is 0: 65,536 hosts are about 40 MB of factor rows.
const DefaultMaxHosts = 1 << 16

// topN is how many hosts Ranking and factors TopFactors report.
const topN = 5

// overcommitKeys are the thresholds holding a placement model's default reservation
// limits, per resource.
var overcommitKeys = [engine.NumResources]string{
	"overcommit_cpu_mhz", "overcommit_mem_mb", "overcommit_disk_kbs", "overcommit_net_kbs",
}

// newPlaceModel checks a placement model's manifest entry against this feature core.
func newPlaceModel(m *bundle.Model, bundleVersion string) (*model, error) {
	if got := fmt.Sprintf("%016x", featurecore.PlaceHash()); got != m.SchemaHash {
		return nil, mismatch(m.Name, "trained on placement factors hash %s, this feature core's is %s: "+
			"the factors changed; retrain the model", m.SchemaHash, got)
	}
	fp := m.FeatureParams
	p := featurecore.PlaceParams{History: fp.History, StepSeconds: fp.StepSeconds}
	if err := p.Check(); err != nil {
		return nil, badBundle(m.Name, "feature_params (history %d, step_seconds %d): %w", fp.History, fp.StepSeconds, err)
	}
	mod := &model{
		entry: m, place: true, placeParams: p,
		inShape: m.Inputs[0].Shape[1:], outShape: m.Outputs[0].Shape[1:],
		samples: p.History,
		ref:     engine.ModelRef{Name: m.Name, Version: m.Version, Bundle: bundleVersion},
	}
	for r, key := range overcommitKeys {
		v, ok := m.Thresholds[key]
		if !ok || !(v > 0) || math.IsInf(v, 0) {
			return nil, badBundle(m.Name, "thresholds.%s is %v (present: %v); a placement model needs each "+
				"resource's default overcommit ratio, finite and > 0", key, v, ok)
		}
		mod.overcommit[r] = v
	}
	mod.info = engine.ModelInfo{
		Name: m.Name, Family: m.Family, Version: m.Version, Schema: m.Schema, SchemaHash: m.SchemaHash,
		SHA256: m.SHA256, InputShape: m.Inputs[0].Shape, OutputShape: m.Outputs[0].Shape,
		WindowSamples: p.History, StepSeconds: p.StepSeconds, Thresholds: m.Thresholds,
	}
	mod.inLen, mod.outLen = mod.info.InputLen(), mod.info.OutputLen() // checked by onnx.signature (checkRowLen)
	return mod, nil
}

// PlaceVM chooses a host for one VM; see engine.Engine.PlaceVM and docs/serving.md.
func (e *Engine) PlaceVM(ctx context.Context, req engine.PlacementRequest) (engine.Placement, error) {
	return one(e.PlaceVMBatch(ctx, []engine.PlacementRequest{req}))
}

// PlaceVMBatch decides each request on its own cluster state; see engine.Engine.
//
// Per request: validate; filter the hosts by the hard constraints (outside the model);
// assemble the feasible hosts' inputs as training/itp/query.py does and compute their
// factor rows with the feature core. Then one model run scores every feasible row of every
// request, the best score wins (ties: lowest host index), and a second run scores the
// occlusion rows that explain each decision (see explain).
func (e *Engine) PlaceVMBatch(ctx context.Context, reqs []engine.PlacementRequest) ([]engine.Placement, error) {
	const op = "place vm"
	l, err := e.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	m, err := l.family(op, FamilyPlacement)
	if err != nil {
		return nil, err
	}
	if len(reqs) > e.cfg.MaxBatch {
		return nil, engine.Errorf(engine.CodeTooLarge, op, m.entry.Name, "%d requests in one call; the limit is %d, "+
			"split the batch", len(reqs), e.cfg.MaxBatch)
	}
	if len(reqs) == 0 {
		return nil, invalid(op, m.entry.Name, "no placement requests")
	}
	hosts := 0
	for _, r := range reqs {
		hosts += len(r.Hosts)
	}
	if hosts > e.cfg.MaxHosts {
		return nil, engine.Errorf(engine.CodeTooLarge, op, m.entry.Name, "%d hosts in one call; the limit is %d, "+
			"split the batch", hosts, e.cfg.MaxHosts)
	}
	sc := scratchPool.Get().(*placeScratch)
	defer scratchPool.Put(sc)
	jobs, err := m.prepare(sc, op, reqs)
	if err != nil {
		return nil, err
	}
	rows := len(sc.feasible)
	sc.scores = grow(sc.scores, rows)
	if err := m.score(sc.factors[:rows*m.inLen], rows, sc.scores); err != nil {
		return nil, err
	}
	e.observe(ctx, m, rows, sc.factors[:rows*m.inLen], sc.scores[:rows])
	out := make([]engine.Placement, len(jobs))
	for i := range jobs {
		if err := m.choose(&jobs[i], sc, &out[i]); err != nil {
			return nil, err
		}
	}
	if err := m.explain(jobs, sc, out); err != nil {
		return nil, err
	}
	return out, nil
}

// placeJob is one request of a call: its rows are sc.feasible[off:off+n] (host indices)
// and the factor rows and scores at the same positions.
type placeJob struct {
	req          *engine.PlacementRequest
	off, n       int
	rejected     []engine.Rejection
	best, ref    int // rows (0..n-1) of the chosen host and the occlusion reference (-1: none)
	occOff, occN int // its occlusion rows in sc.occl
}

// placeScratch is a call's working memory, pooled so that a call over 1,000 hosts
// allocates little beyond its answer.
type placeScratch struct {
	hostIdx, domIdx                  map[string]int32
	hostDom, hostMembers, hostPeers  []int32 // per host of the current request
	domHosts, domMembers, domPeers   []int32 // per domain of the current request
	domAlloc, domCap                 []float64
	capacity, allocated, usage, info []float64 // PlaceInput of the current request
	vmInfo                           [featurecore.PlaceVMInfo]float64

	feasible []int32            // host indices of every request's feasible hosts, request after request
	factors  []float32          // their factor rows
	scores   []float32          // their scores
	viol     []engine.Violation // the current request's violations, host after host
	rej      []rejected         // its rejected hosts
	occl     []float32          // occlusion rows
	occlCol  []int32            // factor replaced in each occlusion row
	occlOut  []float32
}

// rejected is a rejected host of the current request: its violations are
// placeScratch.viol[start:end].
type rejected struct{ host, start, end int32 }

var scratchPool = sync.Pool{New: func() any {
	return &placeScratch{hostIdx: map[string]int32{}, domIdx: map[string]int32{}}
}}

// grow returns s with length n, reallocating (without keeping the contents) when short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// extend returns s with length n, keeping its contents.
func extend[T any](s []T, n int) []T {
	if cap(s) < n {
		t := make([]T, n, max(n, 2*cap(s)))
		copy(t, s)
		return t
	}
	return s[:n]
}

func zeroed[T int32 | float64](s []T, n int) []T {
	s = grow(s, n)
	clear(s)
	return s
}

// prepare validates every request, filters its hosts and computes the factor rows of the
// feasible ones into sc (feasible, factors). A request without a feasible host is a
// CodeNoFeasibleHost error.
func (m *model) prepare(sc *placeScratch, op string, reqs []engine.PlacementRequest) ([]placeJob, error) {
	sc.feasible = sc.feasible[:0]
	sc.factors = sc.factors[:0]
	jobs := make([]placeJob, len(reqs))
	for i := range reqs {
		j := &jobs[i]
		j.req, j.off = &reqs[i], len(sc.feasible)
		prefix := ""
		if len(reqs) > 1 {
			prefix = "request " + strconv.Itoa(i) + ": "
		}
		if err := m.validate(j.req, prefix); err != nil {
			return nil, invalid(op, m.entry.Name, "%s", err)
		}
		if err := m.index(sc, j.req); err != nil {
			return nil, invalid(op, m.entry.Name, "%s%w", prefix, err)
		}
		if nf := m.filter(sc, j); nf != nil {
			nf.Request = i
			return nil, &engine.Error{Code: engine.CodeNoFeasibleHost, Op: op, Model: m.entry.Name,
				Msg: prefix + nf.Error(), Err: nf}
		}
		if err := m.assemble(sc, j); err != nil {
			return nil, invalid(op, m.entry.Name, "%s%w", prefix, err)
		}
	}
	return jobs, nil
}
