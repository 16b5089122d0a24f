package monitor

import (
	"errors"
	"math"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	keyLabels     = []string{"model", "bundle_version", "slot"}
	featureLabels = []string{"model", "bundle_version", "slot", "feature"}

	descWAPE = prometheus.NewDesc("dwcp_ml_online_wape",
		"Forecast WAPE over the pairs joined in the window: sum|actual - point| / sum|actual|.", keyLabels, nil)
	descCoverage = prometheus.NewDesc("dwcp_ml_online_interval_coverage",
		"Forecast share of joined pairs whose actual lies in the served interval [lo, hi].", keyLabels, nil)
	descShortfall = prometheus.NewDesc("dwcp_ml_online_capacity_shortfall",
		"Capacity share of observed demand above the capacity provisioned: sum(max(0, actual - cap)) / sum(actual).",
		keyLabels, nil)
	descPrecision = prometheus.NewDesc("dwcp_ml_online_flag_precision",
		"Flag share of served flags (with a reported label) labelled 1.", keyLabels, nil)
	descRecall = prometheus.NewDesc("dwcp_ml_online_flag_recall",
		"Flag share of pairs labelled 1 that were flagged.", keyLabels, nil)
	descPairs = prometheus.NewDesc("dwcp_ml_online_pairs",
		"Joined (served, actual) pairs in the rolling window.", keyLabels, nil)
	descPSI = prometheus.NewDesc("dwcp_ml_drift_psi",
		"PSI of the live window against the bundle's drift reference, by the feature core.", featureLabels, nil)
	descKS = prometheus.NewDesc("dwcp_ml_drift_ks",
		"Binned KS distance of the live window against the bundle's drift reference, by the feature core.",
		featureLabels, nil)
	descLive = prometheus.NewDesc("dwcp_ml_drift_live_values",
		"Values in the live drift window of the feature (at most the monitor's DriftLive).", featureLabels, nil)
	descActuals = prometheus.NewDesc("dwcp_ml_actuals_total",
		"Reported actuals by kind and result (joined, unmatched, invalid).", []string{"kind", "result"}, nil)
	descServed = prometheus.NewDesc("dwcp_ml_monitor_served_total",
		"Served predictions recorded for joining, by kind and result (recorded, replaced, invalid).",
		[]string{"kind", "result"}, nil)
	descEvicted = prometheus.NewDesc("dwcp_ml_monitor_evicted_total",
		"Dropped before use: capacity (MaxPending) and ttl (PendingTTL) served predictions never joined, "+
			"window joined pairs pushed out of a full MaxPairs window.", []string{"reason"}, nil)
	descPending = prometheus.NewDesc("dwcp_ml_monitor_pending",
		"Served predictions waiting for an actual.", nil, nil)
	descRows = prometheus.NewDesc("dwcp_ml_drift_rows_total",
		"Rows given to the live drift windows by result (accepted, non_finite, wrong_length, no_reference).",
		[]string{"result"}, nil)
)

// Collector exports the monitor's metrics; register it once on a Prometheus registry.
// A gauge whose value is NaN (no pair, no live value, not the key's kind) is left out of
// the scrape rather than exported as NaN, so a series exists only when it means a number.
//
//	dwcp_ml_online_wape{model,bundle_version,slot}                 forecast
//	dwcp_ml_online_interval_coverage{model,bundle_version,slot}    forecast
//	dwcp_ml_online_capacity_shortfall{model,bundle_version,slot}   capacity
//	dwcp_ml_online_flag_precision{model,bundle_version,slot}       flag
//	dwcp_ml_online_flag_recall{model,bundle_version,slot}          flag
//	dwcp_ml_online_pairs{model,bundle_version,slot}                every key served
//	dwcp_ml_drift_psi{model,bundle_version,slot,feature}           keys with a reference
//	dwcp_ml_drift_ks{model,bundle_version,slot,feature}
//	dwcp_ml_drift_live_values{model,bundle_version,slot,feature}
//	dwcp_ml_actuals_total{kind,result}                             joined | unmatched | invalid
//	dwcp_ml_monitor_served_total{kind,result}                      recorded | replaced | invalid
//	dwcp_ml_monitor_evicted_total{reason}                          capacity | ttl | window
//	dwcp_ml_monitor_pending
//	dwcp_ml_drift_rows_total{result}                               accepted | non_finite | wrong_length | no_reference
//
// A scrape expires what is due (so ttl evictions count without traffic) and recomputes
// drift only for windows that changed since the last scrape. A drift the core refuses
// (which a reference accepted by SetReference does not produce) fails the scrape with
// the error, rather than hiding it.
func (m *Monitor) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Monitor }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWAPE, descCoverage, descShortfall, descPrecision, descRecall,
		descPairs, descPSI, descKS, descLive, descActuals, descServed, descEvicted, descPending, descRows} {
		ch <- d
	}
}

type keyScore struct {
	k Key
	a Accuracy
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := m.now()
	m.mu.Lock()
	m.expire(now)
	scores := make([]keyScore, 0, len(m.series))
	for k, s := range m.series {
		m.trim(s, now)
		scores = append(scores, keyScore{k, score(s.kind, s.pairs[s.start:])})
	}
	actuals, served, evicted, pending := m.actuals, m.served, m.evicted, m.nPending
	m.mu.Unlock()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		if !math.IsNaN(v) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
	}
	for _, s := range scores {
		l := []string{s.k.Model, s.k.Version, s.k.Slot}
		gauge(descPairs, float64(s.a.Pairs), l...)
		switch s.a.Kind {
		case Forecast:
			gauge(descWAPE, s.a.WAPE, l...)
			gauge(descCoverage, s.a.Coverage, l...)
		case Capacity:
			gauge(descShortfall, s.a.Shortfall, l...)
		case Flag:
			gauge(descPrecision, s.a.Precision, l...)
			gauge(descRecall, s.a.Recall, l...)
		}
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for ki := range nKindLabels {
		kind := Kind(ki).label()
		for r, name := range actualResults {
			if ki > 0 || actuals[ki][r] > 0 { // "unknown" only once it happened
				counter(descActuals, actuals[ki][r], kind, name)
			}
		}
		for r, name := range servedResults {
			if ki > 0 || served[ki][r] > 0 {
				counter(descServed, served[ki][r], kind, name)
			}
		}
	}
	for r, name := range evictReasons {
		counter(descEvicted, evicted[r], name)
	}
	for r, name := range driftResults {
		counter(descRows, atomic.LoadUint64(&m.dstats[r]), name)
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending))

	for _, k := range m.driftKeys() {
		ds, err := m.Drift(k)
		if errors.Is(err, ErrNoReference) {
			continue // forgotten since driftKeys
		}
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descPSI, err)
			continue
		}
		for _, d := range ds {
			l := []string{k.Model, k.Version, k.Slot, d.Feature}
			gauge(descLive, float64(d.N), l...)
			gauge(descPSI, d.PSI, l...)
			gauge(descKS, d.KS, l...)
		}
	}
}
