package rollout

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Defaults of Policy (a zero field takes its default).
var DefaultSteps = []int{10, 50, 100}

const (
	DefaultWindow            = 5 * time.Minute
	DefaultHold              = 10 * time.Minute
	DefaultInterval          = 10 * time.Second
	DefaultMinRequests       = 100
	DefaultMaxErrorRateDelta = 0.01 // 1 point more failed calls than the champion
	DefaultMaxP99Ratio       = 1.5
	DefaultP99Slack          = 2 * time.Millisecond
	DefaultMaxDriftDelta     = 0.1 // PSI: 0.1 is the usual "moderate shift" line
	DefaultMaxLossDelta      = 0.05
	DefaultMinPairs          = 50
	// DefaultMinDriftValues: live values behind each slot's PSI before drift is compared.
	// The PSI of a sample of n values from the reference itself is about (bins-1)/n (10
	// bins: 0.09 at n = 100, the size of the bound), so a young canary would look drifted;
	// at 1000 it is about 0.01.
	DefaultMinDriftValues = 1000
)

// Policy states when a canary moves. Compare the canary with the champion over the same
// Window; a bound is exceeded when the canary is worse by more than it.
type Policy struct {
	Steps    []int         // canary percentages, increasing, the last 100 (default 10, 50, 100)
	Window   time.Duration // the stats both slots are judged on (default 5m)
	Hold     time.Duration // time at a step without a violation before the next (default 10m)
	Interval time.Duration // how often the server judges (default 10s)

	MinRequests       int           // canary calls in Window before any judgement or promotion (default 100)
	MaxErrorRateDelta float64       // canary error rate - champion's (default 0.01)
	MaxP99Ratio       float64       // canary p99 / champion p99 (default 1.5) ...
	P99Slack          time.Duration // ... and canary p99 - champion p99 above this (default 2ms)
	MaxDriftDelta     float64       // canary's largest PSI - champion's (default 0.1)
	MaxLossDelta      float64       // canary online loss - champion's, any loss metric (default 0.05)
	MinPairs          int           // joined actuals per slot before a loss is compared (default 50)
	MinDriftValues    int           // live values per slot behind the PSI before drift is compared (default 1000)
}

// WithDefaults returns p with every zero field set to its default.
func (p Policy) WithDefaults() Policy {
	if len(p.Steps) == 0 {
		p.Steps = append([]int(nil), DefaultSteps...)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.Window, DefaultWindow)
	def(&p.Hold, DefaultHold)
	def(&p.Interval, DefaultInterval)
	def(&p.P99Slack, DefaultP99Slack)
	if p.MinRequests == 0 {
		p.MinRequests = DefaultMinRequests
	}
	if p.MinPairs == 0 {
		p.MinPairs = DefaultMinPairs
	}
	if p.MinDriftValues == 0 {
		p.MinDriftValues = DefaultMinDriftValues
	}
	deff := func(f *float64, v float64) {
		if *f == 0 {
			*f = v
		}
	}
	deff(&p.MaxErrorRateDelta, DefaultMaxErrorRateDelta)
	deff(&p.MaxP99Ratio, DefaultMaxP99Ratio)
	deff(&p.MaxDriftDelta, DefaultMaxDriftDelta)
	deff(&p.MaxLossDelta, DefaultMaxLossDelta)
	return p
}

// Validate says what is wrong with p (after WithDefaults), in one line.
func (p Policy) Validate() error {
	if !sort.IntsAreSorted(p.Steps) || p.Steps[0] <= 0 || p.Steps[len(p.Steps)-1] != 100 {
		return fmt.Errorf("steps %v: must increase from above 0 to 100", p.Steps)
	}
	for i := 1; i < len(p.Steps); i++ {
		if p.Steps[i] == p.Steps[i-1] {
			return fmt.Errorf("steps %v: step %d repeats", p.Steps, p.Steps[i])
		}
	}
	switch {
	case p.Window < 0 || p.Hold < 0 || p.Interval < 0 || p.P99Slack < 0:
		return errors.New("window, hold, interval and p99 slack must not be negative")
	case p.MinRequests < 0 || p.MinPairs < 0 || p.MinDriftValues < 0:
		return errors.New("min requests, min pairs and min drift values must not be negative")
	case p.MaxP99Ratio < 1:
		return fmt.Errorf("max p99 ratio %g: must be at least 1", p.MaxP99Ratio)
	}
	for name, v := range map[string]float64{"max error rate delta": p.MaxErrorRateDelta,
		"max drift delta": p.MaxDriftDelta, "max loss delta": p.MaxLossDelta, "max p99 ratio": p.MaxP99Ratio} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s %g: must be a finite number not below 0", name, v)
		}
	}
	return nil
}

// Window is one slot's calls over the Policy's window.
type Window struct {
	Requests, Errors int
	P99              time.Duration // 0 when there were no calls
}

// ErrorRate is Errors/Requests (0 without calls).
func (w Window) ErrorRate() float64 {
	if w.Requests == 0 {
		return 0
	}
	return float64(w.Errors) / float64(w.Requests)
}

// Quality is what a slot's answers are worth, from reported actuals and live inputs.
type Quality struct {
	DriftPSI float64         // the largest PSI over the slot's models' features; NaN = unknown
	DriftN   int             // the fewest live values behind any of those PSIs
	Losses   map[string]Loss // e.g. "pba/wape"; lower is better
}

// Loss is one online accuracy figure, lower is better, and the joined pairs behind it.
type Loss struct {
	Value float64
	Pairs int
}

// Signals gives the Quality of a slot's bundle (sidecar/monitor in the sidecar).
type Signals interface {
	Quality(slot Slot) Quality
}

// Judge returns why the canary is worse than the champion (nil when it holds): one reason
// per exceeded bound, naming the signal and both figures.
func (p Policy) Judge(champion, canary Window, qChampion, qCanary Quality) []string {
	var why []string
	if canary.Requests < p.MinRequests {
		return nil // too little evidence either way
	}
	if d := canary.ErrorRate() - champion.ErrorRate(); d > p.MaxErrorRateDelta {
		why = append(why, fmt.Sprintf("error rate %.4f vs champion %.4f (bound +%.4f)",
			canary.ErrorRate(), champion.ErrorRate(), p.MaxErrorRateDelta))
	}
	if champion.Requests >= p.MinRequests && float64(canary.P99) > float64(champion.P99)*p.MaxP99Ratio &&
		canary.P99-champion.P99 > p.P99Slack {
		why = append(why, fmt.Sprintf("p99 latency %v vs champion %v (bound x%g and +%v)",
			canary.P99, champion.P99, p.MaxP99Ratio, p.P99Slack))
	}
	if !math.IsNaN(qCanary.DriftPSI) && !math.IsNaN(qChampion.DriftPSI) &&
		qCanary.DriftN >= p.MinDriftValues && qChampion.DriftN >= p.MinDriftValues &&
		qCanary.DriftPSI-qChampion.DriftPSI > p.MaxDriftDelta {
		why = append(why, fmt.Sprintf("drift PSI %.4f vs champion %.4f (bound +%g, %d/%d live values)",
			qCanary.DriftPSI, qChampion.DriftPSI, p.MaxDriftDelta, qCanary.DriftN, qChampion.DriftN))
	}
	names := make([]string, 0, len(qCanary.Losses))
	for name := range qCanary.Losses {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k, c := qCanary.Losses[name], qChampion.Losses[name]
		if k.Pairs < p.MinPairs || c.Pairs < p.MinPairs || math.IsNaN(k.Value) || math.IsNaN(c.Value) {
			continue
		}
		if k.Value-c.Value > p.MaxLossDelta {
			why = append(why, fmt.Sprintf("online %s %.4f vs champion %.4f (bound +%g, %d/%d pairs)",
				name, k.Value, c.Value, p.MaxLossDelta, k.Pairs, c.Pairs))
		}
	}
	return why
}
