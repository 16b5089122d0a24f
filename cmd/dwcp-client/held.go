package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// held parses `held KIND ID` and returns the call printing the four typed answers the
// sidecar gives for the entity from its online store (docs/online-store.md), one line per
// call, an answer or why not; it fails only when none answers.
func held(args []string, w io.Writer) (func(context.Context, *client.Client) error, error) {
	kind, ok := engine.ParseEntityKind(args[0])
	if !ok {
		return nil, usageError{fmt.Sprintf("held: kind %q; want vm, host or link", args[0])}
	}
	ent := engine.EntityRef{Kind: kind, ID: args[1]}
	return func(ctx context.Context, c *client.Client) error {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		var first error
		answered := 0
		line := func(call string, model engine.ModelRef, answer string, err error) {
			if err != nil {
				fmt.Fprintf(tw, "%s\t—\t%v\n", call, err)
				if first == nil {
					first = err
				}
				return
			}
			answered++
			fmt.Fprintf(tw, "%s\t%s\t%s\n", call, ref(model), answer)
		}
		f, err := c.ForecastBandwidthEntity(ctx, ent)
		line("ForecastBandwidth", f.Model, fmt.Sprintf("%.4g KB/s (q%g..q%g: %.4g..%.4g), valid until %s",
			f.Point, f.QuantileLower, f.QuantileUpper, f.Lower, f.Upper, f.ValidUntil.Format(time.RFC3339)), err)
		a, err := c.AnomalyScoreEntity(ctx, ent)
		line("AnomalyScore", a.Model, fmt.Sprintf("score %.4f (threshold %.4f), anomalous %t", a.Score, a.Threshold, a.Anomalous), err)
		r, err := c.RecommendCapacityEntity(ctx, ent)
		line("RecommendCapacity", r.Model, fmt.Sprintf("peak %.1f MHz -> %g MHz for %v", r.PredictedPeakMHz, r.CapacityMHz, r.Horizon), err)
		l, err := c.ForecastLinkEntity(ctx, ent)
		line("ForecastLink", l.Model, linkAnswer(l), err)
		if err := tw.Flush(); err != nil {
			return err
		}
		if answered == 0 {
			return fmt.Errorf("no answer for %s %q from the sidecar's online store: %w", kind, ent.ID, first)
		}
		return nil
	}, nil
}

// linkAnswer is one line of a link forecast.
func linkAnswer(f engine.LinkForecast) string {
	return fmt.Sprintf("%.4g Mbit/s (q%g..q%g: %.4g..%.4g), %.4g ms, loss %.4g, jitter %.4g ms for %v, valid until %s",
		f.PointMbps, f.QuantileLower, f.QuantileUpper, f.LowerMbps, f.UpperMbps, f.LatencyMs, f.LossRatio, f.JitterMs,
		f.Horizon, f.ValidUntil.Format(time.RFC3339))
}
