package runtime

import (
	"math"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// choose picks the best-scoring feasible host of j (ties: the lowest host index, the
// first in sc.feasible's ascending order) and the occlusion reference, and fills p except
// TopFactors.
func (m *model) choose(j *placeJob, sc *placeScratch, p *engine.Placement) error {
	scores := sc.scores[j.off : j.off+j.n]
	hosts := sc.feasible[j.off : j.off+j.n]
	var top topRows // rows, best first
	higher := func(a, b int) bool { return scores[a] > scores[b] }
	for row, s := range scores {
		if math.IsNaN(float64(s)) {
			hi := hosts[row]
			return internal(m.entry.Name, "the model scored host %d (%s) NaN", hi, j.req.Hosts[hi].ID)
		}
		top.offer(row, higher)
	}
	p.Ranking = make([]engine.HostScore, top.n)
	for k, row := range top.kept() {
		hi := int(hosts[row])
		p.Ranking[k] = engine.HostScore{Host: j.req.Hosts[hi].ID, HostIndex: hi, Score: float64(scores[row])}
	}
	// The occlusion reference: the best host that scored lower than the chosen one (hosts
	// that tie with it lost on their index, not on a factor).
	j.best, j.ref = top.rows[0], -1
	for row, s := range scores {
		if s < scores[j.best] && (j.ref < 0 || s > scores[j.ref]) {
			j.ref = row
		}
	}
	if j.ref >= 0 {
		hi := int(hosts[j.ref])
		p.Reference = engine.HostScore{Host: j.req.Hosts[hi].ID, HostIndex: hi, Score: float64(scores[j.ref])}
	}
	p.Host, p.HostIndex, p.Score = p.Ranking[0].Host, p.Ranking[0].HostIndex, p.Ranking[0].Score
	p.Model, p.Hosts, p.Feasible, p.Rejected = m.ref, len(j.req.Hosts), j.n, j.rejected
	return nil
}

// explain finds the factors that decided each placement, by batched occlusion against a
// reference host: the best feasible host whose score is lower than the chosen one's (the
// runner-up unless it ties; a tie is decided by host index, not by any factor). For every
// factor whose value differs between the chosen host's row and the reference's, one copy
// of the chosen row with that factor set to the reference's value. One model run scores
// the copies of every decision; a factor's Delta is its copy's score minus the chosen
// score, and the topN most negative deltas (the factors without which the chosen host
// would have lost most ground to the reference) are its TopFactors. With one feasible
// host, or when all feasible hosts tie, there is no reference and no TopFactors.
func (m *model) explain(jobs []placeJob, sc *placeScratch, out []engine.Placement) error {
	F := m.inLen
	sc.occl, sc.occlCol = sc.occl[:0], sc.occlCol[:0]
	rows := 0
	for i := range jobs {
		j := &jobs[i]
		j.occOff, j.occN = rows, 0
		if j.ref < 0 {
			continue
		}
		chosen := sc.factors[(j.off+j.best)*F : (j.off+j.best+1)*F]
		ref := sc.factors[(j.off+j.ref)*F : (j.off+j.ref+1)*F]
		for f := range F {
			if math.Float32bits(chosen[f]) == math.Float32bits(ref[f]) {
				continue // the same value: replacing it changes nothing
			}
			sc.occl = append(sc.occl, chosen...)
			sc.occl[rows*F+f] = ref[f]
			sc.occlCol = append(sc.occlCol, int32(f))
			rows++
			j.occN++
		}
	}
	if rows == 0 {
		return nil
	}
	sc.occlOut = grow(sc.occlOut, rows)
	if err := m.score(sc.occl, rows, sc.occlOut); err != nil {
		return err
	}
	for i := range jobs {
		j := &jobs[i]
		if j.occN == 0 {
			continue
		}
		base := float64(sc.scores[j.off+j.best])
		var top topRows // occlusion rows, most negative delta first
		delta := func(k int) float64 { return float64(sc.occlOut[k]) - base }
		lower := func(a, b int) bool { return delta(a) < delta(b) }
		for k := j.occOff; k < j.occOff+j.occN; k++ {
			if delta(k) < 0 {
				top.offer(k, lower)
			}
		}
		if top.n == 0 {
			continue
		}
		chosen := sc.factors[(j.off+j.best)*F:]
		ref := sc.factors[(j.off+j.ref)*F:]
		effects := make([]engine.FactorEffect, top.n)
		for e, k := range top.kept() {
			f := int(sc.occlCol[k])
			effects[e] = engine.FactorEffect{Name: featurecore.PlaceFactorName(f), Index: f,
				Value: float64(chosen[f]), Reference: float64(ref[f]), Delta: delta(k)}
		}
		out[i].TopFactors = effects
	}
	return nil
}

// topRows keeps the topN best rows offered, best first. better must be strict: a row equal
// to one already kept stays behind it, so ties go to the row offered first.
type topRows struct {
	rows [topN]int
	n    int
}

func (t *topRows) offer(row int, better func(a, b int) bool) {
	pos := t.n
	for pos > 0 && better(row, t.rows[pos-1]) {
		pos--
	}
	if pos == topN {
		return
	}
	copy(t.rows[pos+1:], t.rows[pos:min(t.n, topN-1)])
	t.rows[pos] = row
	t.n = min(t.n+1, topN)
}

func (t *topRows) kept() []int { return t.rows[:t.n] }
