package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Defaults of Config.
const (
	DefaultMaxEntities = 200_000
	DefaultMaxSamples  = 4096
	DefaultTTL         = time.Hour
	// MaxTimestamp is the feature core's last valid timestamp (FC_TS_MAX, 9999-12-31).
	MaxTimestamp = 253402300799
)

// Config bounds a Store; the zero value takes the defaults.
type Config struct {
	// MaxEntities is the most (kind, id, schema) buffers held; a new one beyond it is
	// refused with CodeStoreFull.
	MaxEntities int
	// MaxSamples is the most samples one buffer holds inside its span (its memory bound:
	// MaxSamples × (8 + 8 × channels) bytes); further samples are dropped as EntityFull.
	MaxSamples int
	// TTL: an entity not observed for this long is evicted by Evict.
	TTL time.Duration
	// Now is the clock of the TTL (nil = time.Now), injectable for tests.
	Now func() time.Time
}

// Need is what the served models read from one schema's buffers: the span of time
// before an entity's newest sample that any window may reach (the longest window plus
// the fill limit, in bins of the model's step, plus one step of grid alignment), and the
// bins it covers (the buffer's initial size).
type Need struct {
	Schema string
	Span   int64 // seconds: samples older than newest - Span can change no answer
	Bins   int
}

// NeedOf is the need of one model window: window raw samples on a grid of step seconds
// with fillLimit bins carried forward.
func NeedOf(schema string, window int, step int64, fillLimit int) Need {
	bins := window + fillLimit
	return Need{Schema: schema, Span: int64(bins) * step, Bins: bins}
}

// key names one buffer.
type key struct {
	kind   engine.EntityKind
	id     string
	schema string
}

func (k key) String() string { return fmt.Sprintf("%s %q (schema %s)", k.kind, k.id, k.schema) }

// buf is one entity's samples of one schema, in arrival order: ts[start:end] and
// vals[start*ch:end*ch]. Pruned from the front as the newest sample advances; compacted
// to the front when the end reaches the capacity, so the live samples are always one
// contiguous slice the feature core reads in place.
type buf struct {
	ch         int
	ts         []int64
	vals       []float64
	start, end int
	maxTs      int64
	// minTs is the oldest valid timestamp ever observed (late ones included): the grid
	// of the full series starts at its bin, so bins before it are not part of a series.
	minTs   int64
	seen    int64 // Unix nanoseconds of the last Observe
	host    *engine.HostInfo
	version uint64 // bumped on every accepted sample: the usage cache's key

	// Usage cache of a host (placement): recomputed when version or the grid differs.
	usage        []float64
	usageVersion uint64
	usageEnd     int64
	usageH       int
}

func (b *buf) n() int { return b.end - b.start }

type shard struct {
	mu sync.Mutex
	m  map[key]*buf
}

const nShards = 64

// Store holds the samples of every observed entity. Safe for concurrent use.
type Store struct {
	cfg    Config
	needs  atomic.Pointer[map[string]Need]
	seed   maphash.Seed
	shards [nShards]shard

	entities atomic.Int64
	// gen changes whenever a buffer is created or removed (new entity, eviction, restore):
	// a host list resolved at one gen names the same buffers while it lasts.
	gen      atomic.Uint64
	resolved resolvedHosts
	held     atomic.Int64 // samples held over all buffers
	capacity atomic.Int64 // sample slots allocated over all buffers

	accepted, late, invalid, entityFull, refused, evicted, hostInfos atomic.Int64
}

// New returns an empty Store. Until SetNeeds, every schema keeps the feature core's
// default window (12 + 12 - 1 samples, fill 2, 300 s).
func New(cfg Config) *Store {
	if cfg.MaxEntities <= 0 {
		cfg.MaxEntities = DefaultMaxEntities
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = DefaultMaxSamples
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = map[key]*buf{}
	}
	s.SetNeeds(nil)
	return s
}

// Config returns the store's bounds, defaults filled in.
func (s *Store) Config() Config { return s.cfg }

// defaultNeed is the core's default window for a schema nothing served reads.
func defaultNeed(schema string) Need {
	p := featurecore.DefaultParams(featurecore.SchemaVM)
	return NeedOf(schema, p.WindowInputLen(), p.StepSeconds, p.FillLimit)
}

// SetNeeds sets what the served models read, per schema: the longest span and the most
// bins of a schema's needs win; schemas not listed keep the core's default window. Held
// samples stay; the new spans apply from the next sample on.
func (s *Store) SetNeeds(needs []Need) {
	m := map[string]Need{}
	for _, name := range []string{"vm", "link", "metric", engine.SchemaHost} {
		m[name] = defaultNeed(name)
	}
	set := map[string]bool{}
	for _, n := range needs {
		if old := m[n.Schema]; set[n.Schema] {
			n.Span, n.Bins = max(n.Span, old.Span), max(n.Bins, old.Bins)
		}
		m[n.Schema], set[n.Schema] = n, true
	}
	s.needs.Store(&m)
}

// Needs returns the need of every schema.
func (s *Store) Needs() map[string]Need {
	m := *s.needs.Load()
	out := make(map[string]Need, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// channels is the channel count of a schema the store holds.
func channels(schema string) (int, error) {
	if schema == engine.SchemaHost {
		return engine.NumResources, nil
	}
	sc, err := featurecore.ParseSchema(schema)
	if err != nil {
		return 0, fmt.Errorf("schema %q is not one of vm, link, metric, host", schema)
	}
	return sc.NumChannels(), nil
}

// shardIdx spreads entities by id alone (an entity's schemas share a shard): one string
// hash per lookup, on the path of a 1,000-host PlaceVM.
func (s *Store) shardIdx(k key) int { return int(maphash.String(s.seed, k.id) % nShards) }

func (s *Store) shard(k key) *shard { return &s.shards[s.shardIdx(k)] }

// Observe adds each batch's samples to its entity's buffer (creating it) and replaces a
// host's state when the batch carries one. A malformed batch (unknown kind or schema, an
// empty id, values that do not split into the schema's channels, host state on an entity
// that is not a host) is CodeInvalidInput naming it; a new entity beyond MaxEntities is
// CodeStoreFull. Both stop the call there: the batches before it are applied and counted
// in the result returned with the error.
func (s *Store) Observe(ctx context.Context, batch []engine.Samples) (engine.ObserveResult, error) {
	var res engine.ObserveResult
	for i := range batch {
		if err := ctx.Err(); err != nil {
			return res, engine.Errorf(engine.CodeCanceled, "observe", "", "%w", err)
		}
		r, err := s.observe(&batch[i])
		res.Add(r)
		if err != nil {
			if len(batch) > 1 {
				err.Msg = fmt.Sprintf("batch %d: %s", i, err.Msg)
			}
			return res, err
		}
	}
	return res, nil
}

func (s *Store) observe(b *engine.Samples) (engine.ObserveResult, *engine.Error) {
	const op = "observe"
	var res engine.ObserveResult
	schema := b.Schema
	if schema == "" && b.Entity.Kind == engine.EntityHost {
		schema = engine.SchemaHost
	}
	k := key{kind: b.Entity.Kind, id: b.Entity.ID, schema: schema}
	ch, err := channels(schema)
	switch {
	case b.Entity.Kind < engine.EntityVM || b.Entity.Kind > engine.EntityLink:
		return res, engine.Errorf(engine.CodeInvalidInput, op, "", "entity %q has kind %s; it must be vm, host or link", k.id, k.kind)
	case k.id == "":
		return res, engine.Errorf(engine.CodeInvalidInput, op, "", "a %s entity without an id", k.kind)
	case err != nil:
		return res, engine.Errorf(engine.CodeInvalidInput, op, "", "%s %q: %s", k.kind, k.id, err)
	case len(b.Values) != len(b.Timestamps)*ch:
		return res, engine.Errorf(engine.CodeInvalidInput, op, "", "%s: %d values for %d timestamps; schema %s takes %d channels per sample, row-major",
			k, len(b.Values), len(b.Timestamps), schema, ch)
	case b.Host != nil && (k.kind != engine.EntityHost || schema != engine.SchemaHost):
		return res, engine.Errorf(engine.CodeInvalidInput, op, "", "%s: host state belongs to a host entity with schema %s", k, engine.SchemaHost)
	}
	need := (*s.needs.Load())[schema]
	now := s.cfg.Now().UnixNano()
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[k]
	if e == nil {
		if len(b.Timestamps) == 0 && b.Host == nil {
			return res, nil
		}
		if s.entities.Add(1) > int64(s.cfg.MaxEntities) { // reserve first: exact under concurrent creation
			s.entities.Add(-1)
			s.refused.Add(1)
			return res, engine.Errorf(engine.CodeStoreFull, op, "",
				"%s refused: the online store holds its maximum of %d entities (raise dwcp-sidecar -store-max-entities, or lower -store-ttl so idle entities leave sooner)",
				k, s.cfg.MaxEntities)
		}
		c := min(need.Bins+2, s.cfg.MaxSamples)
		e = &buf{ch: ch, ts: make([]int64, c), vals: make([]float64, c*ch), maxTs: math.MinInt64, minTs: math.MaxInt64}
		sh.m[k] = e
		s.gen.Add(1)
		s.capacity.Add(int64(c))
		res.Created++
	}
	e.seen = now
	if b.Host != nil {
		h := *b.Host
		e.host = &h
		e.version++
		res.HostInfos++
		s.hostInfos.Add(1)
	}
	before := e.n()
	for j, t := range b.Timestamps {
		row := b.Values[j*ch : (j+1)*ch]
		switch {
		case !validSample(t, row):
			res.Invalid++
			continue
		case e.n() > 0 && t < e.maxTs-need.Span:
			res.Late++
		default:
			if !s.push(e, t, row, need.Span) {
				res.EntityFull++
				continue
			}
			res.Accepted++
		}
		e.minTs = min(e.minTs, t)
	}
	s.held.Add(int64(e.n() - before))
	if res.Accepted > 0 {
		e.version++
	}
	s.accepted.Add(int64(res.Accepted))
	s.late.Add(int64(res.Late))
	s.invalid.Add(int64(res.Invalid))
	s.entityFull.Add(int64(res.EntityFull))
	return res, nil
}

// validSample is the core's policy for raw values (finite, >= 0; -0.0 is accepted) and
// timestamps (0 .. FC_TS_MAX), checked on arrival so one bad sample cannot make every
// later window of the entity fail.
func validSample(t int64, row []float64) bool {
	if t < 0 || t > MaxTimestamp {
		return false
	}
	for _, v := range row {
		if v != v || v < 0 || math.IsInf(v, 1) {
			return false
		}
	}
	return true
}

// push appends one sample, then drops the samples at the front older than the span
// before the newest. False when the buffer is full of samples inside the span (the
// sample is not held and changes nothing).
func (s *Store) push(e *buf, t int64, row []float64, span int64) bool {
	if e.end == len(e.ts) && !s.makeRoom(e, max(e.maxTs, t)-span) {
		return false
	}
	e.ts[e.end] = t
	copy(e.vals[e.end*e.ch:], row)
	e.end++
	if t > e.maxTs {
		e.maxTs = t
		e.prune(e.maxTs - span)
	}
	return true
}

// prune drops the samples at the front older than cut.
func (e *buf) prune(cut int64) {
	for e.start < e.end && e.ts[e.start] < cut {
		e.start++
	}
}

// makeRoom frees a slot at the end for a sample that makes cut the oldest time kept:
// drops the front older than cut and compacts, grows the buffer (doubling, up to
// MaxSamples) or, at the limit, drops every sample older than cut wherever it sits
// (out-of-order arrivals behind the front).
func (s *Store) makeRoom(e *buf, cut int64) bool {
	e.prune(cut)
	if e.start > 0 {
		e.compact()
		return true
	}
	if c := len(e.ts); c < s.cfg.MaxSamples {
		nc := min(2*c, s.cfg.MaxSamples)
		ts := make([]int64, nc)
		vals := make([]float64, nc*e.ch)
		copy(ts, e.ts[:e.end])
		copy(vals, e.vals[:e.end*e.ch])
		e.ts, e.vals = ts, vals
		s.capacity.Add(int64(nc - c))
		return true
	}
	w := 0
	for r := e.start; r < e.end; r++ {
		if e.ts[r] >= cut {
			e.ts[w] = e.ts[r]
			copy(e.vals[w*e.ch:(w+1)*e.ch], e.vals[r*e.ch:(r+1)*e.ch])
			w++
		}
	}
	e.start, e.end = 0, w
	return e.end < len(e.ts)
}

func (e *buf) compact() {
	n := e.n()
	copy(e.ts, e.ts[e.start:e.end])
	copy(e.vals, e.vals[e.start*e.ch:e.end*e.ch])
	e.start, e.end = 0, n
}

// drop removes entity k (buffer e) of shard sh, whose lock the caller holds, and its counts.
func (s *Store) drop(sh *shard, k key, e *buf) {
	delete(sh.m, k)
	s.gen.Add(1)
	s.entities.Add(-1)
	s.held.Add(-int64(e.n()))
	s.capacity.Add(-int64(len(e.ts)))
}

// Evict removes every entity not observed for the TTL and returns how many.
func (s *Store) Evict() int {
	cut := s.cfg.Now().Add(-s.cfg.TTL).UnixNano()
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.seen < cut {
				s.drop(sh, k, e)
				n++
			}
		}
		sh.mu.Unlock()
	}
	s.evicted.Add(int64(n))
	return n
}

// Forget removes every schema's buffer of each entity (engine.Forgetter) and returns
// how many went; an entity not held is skipped.
func (s *Store) Forget(refs []engine.EntityRef) int {
	n := 0
	for _, r := range refs {
		for _, schema := range []string{"vm", "link", "metric", engine.SchemaHost} {
			k := key{kind: r.Kind, id: r.ID, schema: schema}
			sh := s.shard(k)
			sh.mu.Lock()
			if e := sh.m[k]; e != nil {
				s.drop(sh, k, e)
				n++
			}
			sh.mu.Unlock()
		}
	}
	return n
}

// RunEviction calls Evict every interval (0 = TTL/4, at most a minute) until ctx ends.
func (s *Store) RunEviction(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = min(s.cfg.TTL/4, time.Minute)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Evict()
		}
	}
}

// Stats is a snapshot of the store's gauges and counters.
type Stats struct {
	Entities int64
	Samples  int64 // held
	Slots    int64 // sample slots allocated
	Bytes    int64 // the buffers' sample memory: slots × (8 + 8 × channels), summed

	Accepted, Late, Invalid, EntityFull int64
	Refused                             int64 // new entities refused (store full)
	Evicted                             int64 // entities evicted after the TTL
	HostInfos                           int64
}

// Stats returns the store's figures. Bytes walks every buffer (shard by shard).
func (s *Store) Stats() Stats {
	st := Stats{Entities: s.entities.Load(), Samples: s.held.Load(), Slots: s.capacity.Load(),
		Accepted: s.accepted.Load(), Late: s.late.Load(), Invalid: s.invalid.Load(),
		EntityFull: s.entityFull.Load(), Refused: s.refused.Load(), Evicted: s.evicted.Load(),
		HostInfos: s.hostInfos.Load()}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			st.Bytes += int64(len(e.ts)) * int64(8+8*e.ch)
		}
		sh.mu.Unlock()
	}
	return st
}

// resolvedHosts remembers the buffers of the last few host lists Hosts resolved, each at
// the store's gen: valid while gen is unchanged (no buffer created or removed since).
type resolvedHosts struct {
	mu      sync.Mutex
	entries [4]resolvedList
	next    int
}

type resolvedList struct {
	gen    uint64
	ids    []string // a copy: the caller's slice may change
	bufs   []*buf
	shards []*shard
}

// get returns the buffers and shards of ids resolved at gen (read-only), or nil.
func (r *resolvedHosts) get(gen uint64, ids []string) ([]*buf, []*shard) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.entries {
		if e := &r.entries[i]; e.bufs != nil && e.gen == gen && slices.Equal(e.ids, ids) {
			return e.bufs, e.shards
		}
	}
	return nil, nil
}

// put remembers ids' buffers at gen, replacing the oldest entry.
func (r *resolvedHosts) put(gen uint64, ids []string, bufs []*buf, shards []*shard) {
	l := resolvedList{gen: gen, ids: slices.Clone(ids), bufs: slices.Clone(bufs), shards: slices.Clone(shards)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.entries {
		if e := &r.entries[i]; e.gen != gen && e.bufs != nil {
			*e = resolvedList{} // stale: let its buffers go
		}
	}
	r.entries[r.next] = l
	r.next = (r.next + 1) % len(r.entries)
}

// hostScratch is Hosts' per-call working memory.
type hostScratch struct {
	bufs   []*buf
	shards []*shard
	ends   []int64
}

var hostsScratch = sync.Pool{New: func() any { return new(hostScratch) }}

// notHeld is the error of an entity the store has no samples of.
func notHeld(op string, k key) *engine.Error {
	return engine.Errorf(engine.CodeNotFound, op, "",
		"no samples of %s are held: send them with Observe first (an entity not observed for the store's TTL is evicted)", k)
}

// Series resamples the samples of (ref, p.Schema) with the feature core onto p's grid
// (p.StepSeconds, p.FillLimit) ending at the bin of the entity's newest sample, and
// returns the last window bins as a Series on that grid (fewer when the entity's first
// sample is more recent: the engine then refuses the short series as it would the full
// one). Bins the core leaves missing are the canonical NaN, which the engine refuses with
// the core's error, as it would for the full series. Series.Entity is ref.ID.
func (s *Store) Series(ref engine.EntityRef, p featurecore.Params, window int) (engine.Series, error) {
	const op = "series"
	k := key{kind: ref.Kind, id: ref.ID, schema: p.Schema.Name()}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[k]
	if e == nil || e.n() == 0 {
		return engine.Series{}, notHeld(op, k)
	}
	end, t0, out, err := e.resample(op, k, p, window)
	if err != nil {
		return engine.Series{}, err
	}
	step := p.StepSeconds
	nb := int((end-t0)/step) + 1
	first := max(nb-window, 0)
	ts := make([]int64, nb-first)
	for i := range ts {
		ts[i] = t0 + int64(first+i)*step
	}
	return engine.Series{Timestamps: ts, Values: out[first*e.ch:], Entity: ref.ID}, nil
}

// resample puts e's samples onto p's grid with the feature core: the bins t0..end, end the
// bin of the newest sample, t0 window-1+FillLimit bins before it (the bins the core may
// fill from) or the first sample's bin when that is later. Series and Window read it.
func (e *buf) resample(op string, k key, p featurecore.Params, window int) (end, t0 int64, out []float64, err error) {
	step := p.StepSeconds
	if step <= 0 || window <= 0 {
		return 0, 0, nil, engine.Errorf(engine.CodeInternal, op, "", "grid of %d s and window %d", step, window)
	}
	end = e.maxTs - e.maxTs%step
	t0 = max(end-int64(window-1+p.FillLimit)*step, e.minTs-e.minTs%step)
	nb := int((end-t0)/step) + 1
	out = make([]float64, nb*e.ch)
	counts := make([]uint32, nb)
	if err := p.Resample(t0, nb, e.ts[e.start:e.end], e.vals[e.start*e.ch:e.end*e.ch], out, counts); err != nil {
		return 0, 0, nil, engine.Errorf(engine.CodeInternal, op, "", "%s: %w", k, err)
	}
	return end, t0, out, nil
}

// Hosts builds the placement state of the hosts named by ids, in that order: each
// host's last HostInfo and its usage over the h bins of step seconds ending at the newest
// bin observed among them, resampled by the feature core one resource at a time (schema
// metric, fill limit fill). A usage history is cached per host until its next sample; the
// returned Usage slices are shared and must not be written. A host without state or
// without usage samples is CodeInvalidInput naming it.
func (s *Store) Hosts(ids []string, h int, step int64, fill int, dst []engine.HostState) ([]engine.HostState, error) {
	const op = "place vm"
	hp := hostsScratch.Get().(*hostScratch)
	defer hostsScratch.Put(hp)
	bufs, shards, ends := hp.bufs[:0], hp.shards[:0], hp.ends[:0]
	defer func() { clear(bufs); hp.bufs, hp.shards, hp.ends = bufs[:0], shards[:0], ends[:0] }()
	if cap(dst) < len(ids) {
		dst = make([]engine.HostState, 0, len(ids))
	}
	dst = dst[:0]
	// The buffers of a host list asked for before (a scheduler sends its cluster's ids
	// call after call), while no buffer came or went: no hashing and no map lookups.
	gen := s.gen.Load()
	known, knownShards := s.resolved.get(gen, ids)
	// One pass takes every host's state and its cached usage, valid for the newest bin it
	// was computed at; a second touches only the hosts whose cache is not for the common
	// end bin (after new samples: one in steady state).
	end := int64(math.MinInt64)
	for i, id := range ids {
		k := key{kind: engine.EntityHost, id: id, schema: engine.SchemaHost}
		var sh *shard
		var e *buf
		if known != nil {
			sh, e = knownShards[i], known[i]
			sh.mu.Lock()
		} else {
			sh = s.shard(k)
			sh.mu.Lock()
			e = sh.m[k]
		}
		switch {
		case e == nil:
			sh.mu.Unlock()
			return nil, engine.Errorf(engine.CodeInvalidInput, op, "", "host %d (%q): %s", i, id, notHeld(op, k).Msg)
		case e.host == nil:
			sh.mu.Unlock()
			return nil, engine.Errorf(engine.CodeInvalidInput, op, "", "host %d (%q): no host state (capacity, allocation, ...) observed: send Observe with its host state", i, id)
		case e.n() == 0:
			sh.mu.Unlock()
			return nil, engine.Errorf(engine.CodeInvalidInput, op, "", "host %d (%q): no usage samples (schema host: %v) observed", i, id, engine.ResourceNames)
		}
		var usage []float64
		cachedEnd := int64(math.MinInt64)
		if e.usage != nil && e.usageVersion == e.version && e.usageH == h {
			usage, cachedEnd = e.usage, e.usageEnd
		}
		hi := e.host
		dst = append(dst, engine.HostState{ID: id, Domain: hi.Domain, Capacity: hi.Capacity, Allocated: hi.Allocated,
			Usage: usage, VMCount: hi.VMCount, NICMbps: hi.NICMbps, FailureRate: hi.FailureRate, Cost: hi.Cost,
			Maintenance: hi.Maintenance})
		end = max(end, e.maxTs-e.maxTs%step)
		sh.mu.Unlock()
		bufs, shards, ends = append(bufs, e), append(shards, sh), append(ends, cachedEnd)
	}
	if known == nil {
		s.resolved.put(gen, ids, bufs, shards)
	}
	var p featurecore.Params
	var col, out []float64
	var counts []uint32
	t0 := max(end-int64(h-1+fill)*step, 0)
	nb := int((end-t0)/step) + 1
	for i, e := range bufs {
		if ends[i] == end {
			continue
		}
		if col == nil {
			p = featurecore.DefaultParams(featurecore.SchemaMetric)
			p.StepSeconds, p.FillLimit = step, fill
			col, out, counts = make([]float64, 0, 64), make([]float64, nb), make([]uint32, nb)
		}
		sh := shards[i]
		sh.mu.Lock()
		if e.usage == nil || e.usageVersion != e.version || e.usageEnd != end || e.usageH != h {
			usage := make([]float64, h*engine.NumResources)
			for j := range usage {
				usage[j] = math.NaN() // bins before the epoch: refused by the engine, named
			}
			for r := range engine.NumResources {
				col = col[:0]
				for j := e.start; j < e.end; j++ {
					col = append(col, e.vals[j*e.ch+r])
				}
				if err := p.Resample(t0, nb, e.ts[e.start:e.end], col, out, counts); err != nil {
					sh.mu.Unlock()
					return nil, engine.Errorf(engine.CodeInternal, op, "", "host %d (%q) %s: %w", i, ids[i], engine.ResourceNames[r], err)
				}
				for j := range min(h, nb) {
					usage[(h-min(h, nb)+j)*engine.NumResources+r] = out[nb-min(h, nb)+j]
				}
			}
			e.usage, e.usageVersion, e.usageEnd, e.usageH = usage, e.version, end, h
		}
		dst[i].Usage = e.usage
		sh.mu.Unlock()
	}
	return dst, nil
}
