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

// ExamplePlaceFactors scores one VM request (2 cores, 4 GB) against two candidate hosts
// with the last hour of demand: one row of placement factors per host.
func ExamplePlaceFactors() {
	p := featurecore.DefaultPlaceParams() // H = 12 samples of 300 s
	const hosts, h, r = 2, 12, featurecore.PlaceResources
	in := &featurecore.PlaceInput{
		VMRequest: []float64{5200, 4096, 20000, 50000}, // cpu_mhz, mem_mb, disk_kbs, net_kbs
		VMHistory: make([]float64, h*r),
		VMInfo:    []float64{0, 0}, // group_size, peers
		Hosts:     hosts,
		HostCapacity: []float64{
			83200, 262144, 400000, 1250000, // host 0: 32 cores
			41600, 131072, 200000, 125000, // host 1: 16 cores, 1 Gbit/s
		},
		HostAllocated: []float64{41600, 131072, 100000, 500000, 36400, 65536, 50000, 100000},
		HostUsage:     make([]float64, hosts*h*r),
		HostInfo:      make([]float64, hosts*featurecore.PlaceHostInfo),
	}
	for t := range h {
		for j := range r {
			in.VMHistory[t*r+j] = in.VMRequest[j] * 0.5
			for host := range hosts {
				in.HostUsage[(host*h+t)*r+j] = in.HostAllocated[host*r+j] * (0.5 + 0.02*float64(t))
			}
		}
	}
	out := make([]float32, featurecore.PlaceOutputLen(hosts))
	if err := featurecore.PlaceFactors(p, in, out); err != nil {
		fmt.Println(err)
		return
	}
	names := featurecore.PlaceFactorNames()
	for host := range hosts {
		row := out[host*featurecore.PlaceFactorCount : (host+1)*featurecore.PlaceFactorCount]
		for i, name := range names {
			if name == "alloc_util_max_after" || name == "peak_headroom_after_net" {
				fmt.Printf("host %d %s %g\n", host, name, row[i])
			}
		}
	}
	in.HostCapacity[r+2] = 0 // host 1 offers no disk bandwidth
	err := featurecore.PlaceFactors(p, in, out)
	fmt.Println(errors.Is(err, featurecore.ErrZeroCapacity), err.(*featurecore.Error).Index)
	// Output:
	// host 0 peak_headroom_after_net 865000
	// host 0 alloc_util_max_after 0.5625
	// host 1 peak_headroom_after_net 28000
	// host 1 alloc_util_max_after 1.2
	// true 1
}
