package monitor

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Kind is what a model predicts, which decides how an actual scores it.
type Kind int

const (
	// Forecast is a point and an interval (pba): WAPE and interval coverage.
	Forecast Kind = iota + 1
	// Capacity is provisioned capacity against observed demand (scaling): shortfall.
	Capacity
	// Flag is a served anomaly flag against a reported label 0 or 1: precision, recall.
	Flag
)

var kindNames = [...]string{Forecast: "forecast", Capacity: "capacity", Flag: "flag"}

func (k Kind) valid() bool { return k >= Forecast && k <= Flag }

// String is the kind's label value: forecast, capacity, flag (Kind(n) otherwise).
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// label is the kind label of a counter: an invalid kind counts as "unknown", so callers
// cannot grow the label set.
func (k Kind) label() string {
	if k.valid() {
		return kindNames[k]
	}
	return "unknown"
}

// Key names one served model: model name, bundle version and slot (champion, canary or
// shadow). The wirer chooses keys; entities are never part of one, so the label set stays
// bounded by models × versions × slots.
type Key struct{ Model, Version, Slot string }

func (k Key) String() string { return k.Model + "/" + k.Version + "/" + k.Slot }

// Prediction is what was served. Forecast: Point and the interval [Lo, Hi]. Capacity:
// Point is the capacity provisioned. Flag: Flag is the served flag.
type Prediction struct {
	Point, Lo, Hi float64
	Flag          bool
}

// Config bounds the monitor. Zero fields take the defaults.
type Config struct {
	Window     time.Duration    // rolling window of joined pairs, by join time (default 1h)
	MaxPending int              // served predictions waiting for an actual, all keys (default 100_000); oldest evicted, counted
	PendingTTL time.Duration    // a served prediction older than this is dropped unjoined (default 6h)
	MaxPairs   int              // joined pairs kept per key inside Window (default 100_000); oldest dropped, counted
	DriftLive  int              // live values kept per feature per key for drift (default 4096)
	Now        func() time.Time // clock (default time.Now); tests inject one
}

// Defaults and limits of Config.
const (
	DefaultWindow     = time.Hour
	DefaultMaxPending = 100_000
	DefaultPendingTTL = 6 * time.Hour
	DefaultMaxPairs   = 100_000
	DefaultDriftLive  = 4096
	// MaxDriftLive bounds DriftLive: 2^24 values of 8 bytes are 128 MiB per feature.
	MaxDriftLive = 1 << 24
)

func (c Config) withDefaults() (Config, error) {
	if c.Window < 0 || c.PendingTTL < 0 || c.MaxPending < 0 || c.MaxPairs < 0 || c.DriftLive < 0 ||
		c.DriftLive > MaxDriftLive {
		return c, fmt.Errorf("monitor: config Window %v, PendingTTL %v, MaxPending %d, MaxPairs %d, DriftLive %d: "+
			"want no negative value and DriftLive <= %d (0 takes the default)", c.Window, c.PendingTTL,
			c.MaxPending, c.MaxPairs, c.DriftLive, MaxDriftLive)
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.PendingTTL == 0 {
		c.PendingTTL = DefaultPendingTTL
	}
	if c.MaxPairs == 0 {
		c.MaxPairs = DefaultMaxPairs
	}
	if c.DriftLive == 0 {
		c.DriftLive = DefaultDriftLive
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Results of the counters.
const (
	resJoined = iota
	resUnmatched
	resInvalid
	nActualResults
)

var actualResults = [nActualResults]string{"joined", "unmatched", "invalid"}

const (
	evCapacity = iota // MaxPending
	evTTL             // PendingTTL
	evWindow          // a joined pair pushed out of a full MaxPairs window
	nEvictReasons
)

var evictReasons = [nEvictReasons]string{"capacity", "ttl", "window"}

const (
	srvRecorded = iota
	srvReplaced
	srvInvalid
	nServedResults
)

var servedResults = [nServedResults]string{"recorded", "replaced", "invalid"}

// kinds of the counters: 0 is "unknown", 1..3 the kinds.
const nKindLabels = int(Flag) + 1

func kindIndex(k Kind) int {
	if k.valid() {
		return int(k)
	}
	return 0
}

// Monitor joins actuals to served predictions, keeps rolling online accuracy per key and
// live drift windows. It is safe for concurrent use.
type Monitor struct {
	cfg   Config
	epoch time.Time // times are offsets from it: monotonic with time.Now, so a wall clock step moves no TTL

	mu       sync.Mutex
	pending  map[pendKey]*item // head of the chain of one (kind, entity, ts), one item per key
	oldest   *item             // queue of every pending item, oldest first
	newest   *item
	nPending int
	free     *item // recycled items (bounded by the largest nPending seen)
	series   map[Key]*series
	actuals  [nKindLabels][nActualResults]uint64
	served   [nKindLabels][nServedResults]uint64
	evicted  [nEvictReasons]uint64

	dmu    sync.RWMutex
	drift  map[Key]*live
	dstats [nDriftResults]uint64 // dwcp_ml_drift_rows_total, atomic
}

type pendKey struct {
	kind   Kind
	entity string
	ts     int64
}

// item is one served prediction waiting for its actual.
type item struct {
	pk         pendKey
	s          *series
	p          Prediction
	at         int64 // served, ns since epoch
	same       *item // next item of the same pendKey (another key)
	prev, next *item // the pending queue
}

// pair is one joined (served, actual).
type pair struct {
	at     int64 // joined, ns since epoch
	p      Prediction
	actual float64
}

// series is the rolling window of one key's joined pairs.
type series struct {
	key   Key
	kind  Kind
	pairs []pair // pairs[start:] are live, oldest first
	start int
}

// New returns a Monitor with cfg's bounds.
func New(cfg Config) (*Monitor, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Monitor{cfg: c, epoch: c.Now(), pending: map[pendKey]*item{}, series: map[Key]*series{}, drift: map[Key]*live{}}, nil
}

// now is the time since New, in ns.
func (m *Monitor) now() int64 { return int64(m.cfg.Now().Sub(m.epoch)) }

// Config returns the monitor's configuration with the defaults filled in.
func (m *Monitor) Config() Config { return m.cfg }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// validPrediction says whether p can be scored as kind: the numbers a kind reads must be
// finite. A crossed interval (Lo > Hi) is kept: it covers nothing, which is its score.
func validPrediction(kind Kind, p Prediction) bool {
	switch kind {
	case Forecast:
		return finite(p.Point) && finite(p.Lo) && finite(p.Hi)
	case Capacity:
		return finite(p.Point)
	case Flag:
		return true
	}
	return false
}

// Served records what was served to entity for target time ts (the time the actual will
// refer to, in the caller's unit, matched exactly). A second Served for the same key,
// kind, entity and ts replaces the first (the newest answer is the one acted on). An
// unknown kind, an empty entity or model, a non-finite number the kind reads, or a key
// first served as another kind is not recorded and counts as invalid.
func (m *Monitor) Served(k Key, kind Kind, entity string, ts int64, p Prediction) {
	now := m.now()
	ki := kindIndex(kind)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	s := m.series[k]
	if !kind.valid() || entity == "" || k.Model == "" || !validPrediction(kind, p) || s != nil && s.kind != kind {
		m.served[ki][srvInvalid]++
		return
	}
	if s == nil {
		s = &series{key: k, kind: kind}
		m.series[k] = s
	}
	pk := pendKey{kind, entity, ts}
	head := m.pending[pk]
	for it := head; it != nil; it = it.same {
		if it.s == s {
			it.p, it.at = p, now
			m.unlink(it)
			m.pushBack(it)
			m.served[ki][srvReplaced]++
			return
		}
	}
	it := m.newItem()
	*it = item{pk: pk, s: s, p: p, at: now, same: head}
	m.pending[pk] = it
	m.pushBack(it)
	m.nPending++
	m.served[ki][srvRecorded]++
	for m.nPending > m.cfg.MaxPending {
		m.drop(m.oldest)
		m.evicted[evCapacity]++
	}
}

// Actual joins an observed value to every slot's served prediction for (kind, entity,
// ts) and returns how many were joined. Each served prediction is joined once: a repeated
// actual finds nothing. Forecast takes the observed value, Capacity the observed demand
// (>= 0), Flag the label 0 or 1. Errors: *ActualError matching ErrInvalidActual or
// ErrNoPrediction.
func (m *Monitor) Actual(kind Kind, entity string, ts int64, value float64) (int, error) {
	now := m.now()
	ki := kindIndex(kind)
	if reason := invalidActual(kind, entity, value); reason != "" {
		m.mu.Lock()
		m.actuals[ki][resInvalid]++
		m.mu.Unlock()
		return 0, &ActualError{Kind: kind, Entity: entity, TS: ts, Value: value, Reason: reason, Err: ErrInvalidActual}
	}
	pk := pendKey{kind, entity, ts}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	head := m.pending[pk]
	if head == nil {
		m.actuals[ki][resUnmatched]++
		return 0, &ActualError{Kind: kind, Entity: entity, TS: ts, Value: value, Err: ErrNoPrediction,
			Reason: fmt.Sprintf("never served, already joined, or dropped (PendingTTL %v, MaxPending %d)",
				m.cfg.PendingTTL, m.cfg.MaxPending)}
	}
	delete(m.pending, pk)
	n := 0
	for it := head; it != nil; {
		next := it.same
		m.add(it.s, pair{at: now, p: it.p, actual: value}, now)
		m.unlink(it)
		m.nPending--
		m.recycle(it)
		it = next
		n++
	}
	m.actuals[ki][resJoined]++
	return n, nil
}

// invalidActual says what is wrong with an actual, or "".
func invalidActual(kind Kind, entity string, value float64) string {
	switch {
	case !kind.valid():
		return "unknown kind"
	case entity == "":
		return "empty entity"
	case !finite(value):
		return "value is not finite"
	case kind == Capacity && value < 0:
		return "demand is negative"
	case kind == Flag && value != 0 && value != 1:
		return "a flag label is 0 or 1"
	}
	return ""
}

// add appends a joined pair to s, dropping what left the window and the oldest beyond
// MaxPairs.
func (m *Monitor) add(s *series, p pair, now int64) {
	m.trim(s, now)
	if len(s.pairs)-s.start >= m.cfg.MaxPairs {
		s.start++
		m.evicted[evWindow]++
	}
	// Compact once half the backing array is dead, so memory stays within 2 × MaxPairs.
	if s.start > 0 && s.start >= len(s.pairs)/2 && len(s.pairs) == cap(s.pairs) {
		n := copy(s.pairs, s.pairs[s.start:])
		s.pairs = s.pairs[:n]
		s.start = 0
	}
	s.pairs = append(s.pairs, p)
}

// trim drops the pairs joined before now - Window.
func (m *Monitor) trim(s *series, now int64) {
	cut := now - int64(m.cfg.Window)
	for s.start < len(s.pairs) && s.pairs[s.start].at < cut {
		s.start++
	}
	if s.start == len(s.pairs) {
		s.pairs, s.start = s.pairs[:0], 0
	}
}

// expire drops the served predictions older than PendingTTL.
func (m *Monitor) expire(now int64) {
	cut := now - int64(m.cfg.PendingTTL)
	for m.oldest != nil && m.oldest.at < cut {
		m.drop(m.oldest)
		m.evicted[evTTL]++
	}
}

// drop removes a pending item from the queue and from its pendKey's chain.
func (m *Monitor) drop(it *item) {
	m.unlink(it)
	if head := m.pending[it.pk]; head == it {
		if it.same == nil {
			delete(m.pending, it.pk)
		} else {
			m.pending[it.pk] = it.same
		}
	} else {
		for p := head; p != nil; p = p.same {
			if p.same == it {
				p.same = it.same
				break
			}
		}
	}
	m.nPending--
	m.recycle(it)
}

func (m *Monitor) pushBack(it *item) {
	it.prev, it.next = m.newest, nil
	if m.newest != nil {
		m.newest.next = it
	} else {
		m.oldest = it
	}
	m.newest = it
}

func (m *Monitor) unlink(it *item) {
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		m.oldest = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		m.newest = it.prev
	}
	it.prev, it.next = nil, nil
}

func (m *Monitor) newItem() *item {
	if it := m.free; it != nil {
		m.free = it.next
		return it
	}
	return new(item)
}

// recycle keeps an item for the next Served; it drops the references it held.
func (m *Monitor) recycle(it *item) {
	*it = item{next: m.free}
	m.free = it
}

// Forget drops everything the monitor holds for k: its pending predictions, its joined
// pairs and its drift window and reference (a slot removed, a bundle unloaded). Its
// gauges disappear from the next scrape; the counters keep their totals.
func (m *Monitor) Forget(k Key) {
	m.mu.Lock()
	if s := m.series[k]; s != nil {
		for it := m.oldest; it != nil; {
			next := it.next
			if it.s == s {
				m.drop(it)
			}
			it = next
		}
		delete(m.series, k)
	}
	m.mu.Unlock()
	m.dmu.Lock()
	delete(m.drift, k)
	m.dmu.Unlock()
}

// Pending is the number of served predictions waiting for an actual.
func (m *Monitor) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nPending
}

// Accuracy is a key's online accuracy over the pairs joined in the last Window. A field
// that does not apply to the key's kind, or has no pair to read, is NaN.
type Accuracy struct {
	Kind  Kind // the key's kind (0 for a key never served)
	Pairs int  // joined pairs in the window
	// Forecast: WAPE = sum|actual - point| / sum|actual|; Coverage = share of pairs with
	// Lo <= actual <= Hi.
	WAPE, Coverage float64
	// Capacity: the share of demand above capacity, sum(max(0, actual - cap)) / sum(actual).
	Shortfall float64
	// Flag: Precision = of the served flags (Flag true), the share labelled 1; Recall = of
	// the pairs labelled 1, the share flagged.
	Precision, Recall float64
}

// Accuracy returns k's rolling accuracy now.
func (m *Monitor) Accuracy(k Key) Accuracy {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[k]
	if s == nil {
		return score(0, nil)
	}
	m.trim(s, now)
	return score(s.kind, s.pairs[s.start:])
}

// score computes the metrics of pairs, summed oldest first.
func score(kind Kind, pairs []pair) Accuracy {
	nan := math.NaN()
	a := Accuracy{Kind: kind, Pairs: len(pairs), WAPE: nan, Coverage: nan, Shortfall: nan, Precision: nan, Recall: nan}
	if len(pairs) == 0 {
		return a
	}
	switch kind {
	case Forecast:
		var absErr, absAct float64
		covered := 0
		for _, p := range pairs {
			absErr += math.Abs(p.actual - p.p.Point)
			absAct += math.Abs(p.actual)
			if p.p.Lo <= p.actual && p.actual <= p.p.Hi {
				covered++
			}
		}
		// All actuals 0: 0/0 is NaN (nothing to weigh), x/0 +Inf (errors on no volume).
		a.WAPE = absErr / absAct
		a.Coverage = float64(covered) / float64(len(pairs))
	case Capacity:
		var short, demand float64
		for _, p := range pairs {
			short += math.Max(0, p.actual-p.p.Point)
			demand += p.actual
		}
		if demand > 0 {
			a.Shortfall = short / demand
		} else {
			a.Shortfall = 0 // no demand: none of it went unserved
		}
	case Flag:
		flagged, truePos, labelled := 0, 0, 0
		for _, p := range pairs {
			if p.p.Flag {
				flagged++
			}
			if p.actual == 1 {
				labelled++
				if p.p.Flag {
					truePos++
				}
			}
		}
		if flagged > 0 {
			a.Precision = float64(truePos) / float64(flagged)
		}
		if labelled > 0 {
			a.Recall = float64(truePos) / float64(labelled)
		}
	}
	return a
}
