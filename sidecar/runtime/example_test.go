package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	"github.com/dwcp/dwcp-ml/sidecar/runtime"
)

// A bandwidth forecast, an anomaly score and a capacity recommendation in-process.
// ONNX Runtime comes from $ONNXRUNTIME_LIB or the project's .venv (make venv).
func Example() {
	ctx := context.Background()
	eng, err := runtime.Open(ctx, "../../golden/bundle", runtime.Config{})
	if err != nil {
		log.Fatal(err) // e.g. dwcp-ml: load bundle pba: check files.sha256: pba.onnx: sha256 does not match ...
	}
	defer eng.Close()

	// Two hours of five-minute samples of one VM, one row per sample: cpu_pct, mem_pct,
	// disk_read_kbs, disk_write_kbs, net_rx_kbs, net_tx_kbs; and its CPU demand in MHz.
	// The anomaly detector compares the last value with the range of the two days before
	// it, so it gets two days and an hour of the CPU demand.
	start := time.Date(2013, 8, 12, 9, 0, 0, 0, time.UTC).Unix()
	var vm, cpuMHz, cpuDays engine.Series
	for i := range 26 {
		ts := start + int64(i)*300
		vm.Timestamps = append(vm.Timestamps, ts)
		vm.Values = append(vm.Values, 20+float64(i%4), 45, 3, 12, 180+5*float64(i), 60)
		cpuMHz.Timestamps = append(cpuMHz.Timestamps, ts)
		cpuMHz.Values = append(cpuMHz.Values, 1800+40*float64(i%5))
	}
	for i := range 2*288 + 12 {
		cpuDays.Timestamps = append(cpuDays.Timestamps, start+int64(i)*300)
		cpuDays.Values = append(cpuDays.Values, 1800+40*float64(i%5))
	}

	bw, err := eng.ForecastBandwidth(ctx, vm) // uses the most recent 23 samples
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bandwidth next %v: %.1f KB/s, 80%% interval %.1f..%.1f (%s %s)\n",
		bw.Horizon, bw.Point, bw.Lower, bw.Upper, bw.Model.Name, bw.Model.Version)

	an, err := eng.AnomalyScore(ctx, cpuDays)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("anomaly score %.3f, threshold %.3f, anomalous %v\n", an.Score, an.Threshold, an.Anomalous)

	capacity, err := eng.RecommendCapacity(ctx, cpuMHz)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("provision %.0f MHz (%d units) for the next %v\n", capacity.CapacityMHz, capacity.Units, capacity.Horizon)

	// Bad input is an *engine.Error with a Code to branch on.
	_, err = eng.Predict(ctx, "pba", "", []float64{1, 2, 3})
	fmt.Println(errors.Is(err, engine.ErrInvalidInput), err)
	// Output:
	// bandwidth next 15m0s: 279.4 KB/s, 80% interval 126.0..279.4 (pba 2)
	// anomaly score -0.500, threshold -0.280, anomalous false
	// provision 3000 MHz (30 units) for the next 15m0s
	// true dwcp-ml: predict pba: got 3 feature values for 1 rows; pba takes 168 per row (shape [-1 12 14])
}
