package rollout

import (
	"math"
	"sync"
	"time"
)

// Stats keeps each slot's calls over a sliding window: SubWindows rings of counts and a
// log-spaced latency histogram, so a window costs a fixed amount of memory whatever the
// traffic. Safe for concurrent use.
type Stats struct {
	mu     sync.Mutex
	window time.Duration
	sub    time.Duration
	now    func() time.Time
	slots  map[Slot]*ring
}

// SubWindows is the resolution of the window: it slides in steps of window/SubWindows.
const SubWindows = 60

// Latency histogram: latBinsPerDecade log-spaced bins from latMin over latDecades decades,
// plus one overflow bin. A p99 is the upper edge of its bin (at most 10 % high).
const (
	latMin           = time.Microsecond
	latBinsPerDecade = 24
	latDecades       = 8 // 1 µs .. 100 s
	latBins          = latBinsPerDecade*latDecades + 1
)

type bucket struct {
	start            int64 // sub-window index (time / sub)
	requests, errors int
	lat              [latBins]uint32
}

type ring struct{ b [SubWindows]bucket }

// NewStats keeps window (>0) of calls per slot; now nil = time.Now.
func NewStats(window time.Duration, now func() time.Time) *Stats {
	if now == nil {
		now = time.Now
	}
	sub := max(window/SubWindows, time.Millisecond)
	return &Stats{window: window, sub: sub, now: now, slots: map[Slot]*ring{}}
}

func latBin(d time.Duration) int {
	if d <= latMin {
		return 0
	}
	i := int(math.Ceil(math.Log10(float64(d)/float64(latMin)) * latBinsPerDecade))
	return min(i, latBins-1)
}

func latEdge(i int) time.Duration {
	return time.Duration(float64(latMin) * math.Pow(10, float64(i)/latBinsPerDecade))
}

// Record counts one call of slot that took d; failed says it failed on the server's side.
func (s *Stats) Record(slot Slot, d time.Duration, failed bool) {
	idx := s.now().UnixNano() / int64(s.sub)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.slots[slot]
	if r == nil {
		r = &ring{}
		s.slots[slot] = r
	}
	b := &r.b[idx%SubWindows]
	if b.start != idx {
		*b = bucket{start: idx}
	}
	b.requests++
	if failed {
		b.errors++
	}
	b.lat[latBin(d)]++
}

// Window sums slot's calls over the last window.
func (s *Stats) Window(slot Slot) Window {
	idx := s.now().UnixNano() / int64(s.sub)
	oldest := idx - int64(s.window/s.sub) + 1
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.slots[slot]
	if r == nil {
		return Window{}
	}
	var w Window
	var lat [latBins]uint64
	for i := range r.b {
		b := &r.b[i]
		if b.requests == 0 || b.start < oldest || b.start > idx {
			continue
		}
		w.Requests += b.requests
		w.Errors += b.errors
		for j, n := range b.lat {
			lat[j] += uint64(n)
		}
	}
	if w.Requests == 0 {
		return w
	}
	rank := uint64(math.Ceil(0.99 * float64(w.Requests)))
	var seen uint64
	for j, n := range lat {
		seen += n
		if seen >= rank {
			w.P99 = latEdge(j)
			break
		}
	}
	return w
}

// Reset forgets slot's calls (a new bundle in the slot starts from nothing).
func (s *Stats) Reset(slot Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.slots, slot)
}
