package featurecore_test

import (
	"errors"
	"fmt"
	"math"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

// Example computes the features of one serving window from the last 23 five-minute
// samples of a WAN link.
func Example() {
	p := featurecore.DefaultParams(featurecore.SchemaLink) // T = 12 steps, W = 12, 300 s grid
	// A model bundle would set p.Center and p.Scale here.

	n := p.WindowInputLen() // 23 samples
	ts := make([]int64, n)
	values := make([]float64, 0, n*featurecore.SchemaLink.NumChannels())
	for i := range n {
		ts[i] = 1372636800 + int64(i)*300 // 2013-07-01T00:00:00Z, every 5 minutes
		// bandwidth_mbps, latency_ms, packet_loss_ratio, jitter_ms
		values = append(values, 900+float64(i%4)*25, 12, 0.001, 0.5)
	}

	out := make([]float32, p.WindowOutputLen()) // 12 rows x 12 features, reusable
	if err := p.Window(ts, values, out); err != nil {
		fmt.Println(err)
		return
	}
	f := featurecore.SchemaLink.NumFeatures()
	last := out[(p.SeqLen-1)*f:] // the newest step
	for i, name := range featurecore.SchemaLink.Features() {
		fmt.Printf("%-17s %g\n", name, last[i])
	}

	// A gap in the metrics is an error that names the sample and channel.
	values[7*4+1] = math.NaN()
	err := p.Window(ts, values, out)
	fmt.Println(errors.Is(err, featurecore.ErrMissing))
	var fe *featurecore.Error
	if errors.As(err, &fe) {
		fmt.Println(fe.Index, fe.ChannelName)
	}
	// Output:
	// bandwidth_mbps    950
	// latency_ms        12
	// packet_loss_ratio 0.001
	// jitter_ms         0.5
	// time_of_day       0.07638889
	// day_of_week       0
	// target_mean       937.5
	// target_std        27.95085
	// target_min        900
	// target_max        975
	// target_slope      -0.5244755
	// target_ewma       941.94855
	// true
	// 7 latency_ms
}
