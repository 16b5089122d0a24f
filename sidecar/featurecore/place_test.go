package featurecore_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dwcp/dwcp-ml/sidecar/featurecore"
)

const placeR = featurecore.PlaceResources // resources per row

// placeInput returns a realistic placement problem: one VM and n hosts with history h,
// deterministic for a seed (hosts of 32-64 cores at 2600 MHz, 128-512 GB, resident VMs
// using part of their allocation with a daily wave and bursts).
func placeInput(n, h int, seed uint64) *featurecore.PlaceInput {
	r := rand.New(rand.NewPCG(seed, 0x91ace))
	in := &featurecore.PlaceInput{
		VMRequest: []float64{4 * 2600, 8192, 20000, 50000},
		VMHistory: make([]float64, h*placeR),
		VMInfo:    []float64{3, 2},
		Hosts:     n,
	}
	in.HostCapacity = make([]float64, n*placeR)
	in.HostAllocated = make([]float64, n*placeR)
	in.HostUsage = make([]float64, n*h*placeR)
	in.HostInfo = make([]float64, n*featurecore.PlaceHostInfo)
	for t := range h {
		wave := 0.5 + 0.4*math.Sin(float64(t)/5) // test data only, never a factor
		for j := range placeR {
			in.VMHistory[t*placeR+j] = in.VMRequest[j] * wave * (0.5 + 0.5*r.Float64())
		}
	}
	for i := range n {
		size := float64(1 + r.IntN(3))
		capRow := []float64{size * 32 * 2600, size * 131072, size * 400000, size * 1250000}
		copy(in.HostCapacity[i*placeR:], capRow)
		for j := range placeR {
			alloc := capRow[j] * r.Float64() * 0.9
			in.HostAllocated[i*placeR+j] = alloc
			for t := range h {
				u := alloc * (0.2 + 0.6*r.Float64())
				if r.IntN(30) == 0 {
					u *= 3 // a burst
				}
				in.HostUsage[(i*h+t)*placeR+j] = u
			}
		}
		info := in.HostInfo[i*featurecore.PlaceHostInfo : (i+1)*featurecore.PlaceHostInfo]
		vms := float64(r.IntN(12))
		copy(info, []float64{vms, 0, float64(r.IntN(3)), 2, float64(2 + r.IntN(2)), float64(r.IntN(2)),
			float64(r.IntN(3)), float64(r.IntN(3)), 10000, math.Round(r.Float64()*300) / 100, 1 + float64(r.IntN(3))*0.4,
			r.Float64(), float64(4 + r.IntN(8))})
	}
	return in
}

func TestPlaceNamesAndHash(t *testing.T) {
	names := featurecore.PlaceFactorNames()
	if len(names) != featurecore.PlaceFactorCount || len(names) < 100 {
		t.Fatalf("%d factor names, PlaceFactorCount %d", len(names), featurecore.PlaceFactorCount)
	}
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" || seen[n] || featurecore.PlaceFactorName(i) != n {
			t.Errorf("factor %d: %q (duplicate %v)", i, n, seen[n])
		}
		seen[n] = true
	}
	if featurecore.PlaceFactorName(-1) != "" || featurecore.PlaceFactorName(len(names)) != "" {
		t.Error("PlaceFactorName out of range")
	}
	names[0] = "changed" // the caller's copy
	if featurecore.PlaceFactorName(0) != "vm_request_cpu" {
		t.Error("PlaceFactorNames shares its slice")
	}
	if got := featurecore.PlaceResourceNames(); !slices.Equal(got, []string{"cpu_mhz", "mem_mb", "disk_kbs", "net_kbs"}) {
		t.Errorf("resources %q", got)
	}
	if got := featurecore.PlaceVMInfoNames(); !slices.Equal(got, []string{"group_size", "peers"}) {
		t.Errorf("vm info %q", got)
	}
	if got := featurecore.PlaceHostInfoNames(); len(got) != featurecore.PlaceHostInfo || got[8] != "nic_mbps" {
		t.Errorf("host info %q", got)
	}
	if featurecore.PlaceColumnName(19) != "host_usage.mem_mb" || featurecore.PlaceColumnName(featurecore.PlaceColumns) != "" {
		t.Error("PlaceColumnName")
	}
	// The hash is FNV-1a over the documented text, recomputed here from the names.
	text := "dwcp-fc/1;place;resources=" + strings.Join(featurecore.PlaceResourceNames(), "+") +
		";vm_info=" + strings.Join(featurecore.PlaceVMInfoNames(), "+") +
		";host_info=" + strings.Join(featurecore.PlaceHostInfoNames(), "+")
	for _, n := range featurecore.PlaceFactorNames() {
		text += ";f32:" + n
	}
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(text); i++ {
		h = (h ^ uint64(text[i])) * 0x100000001b3
	}
	if featurecore.PlaceHash() != h {
		t.Errorf("PlaceHash %016x, FNV-1a of the names %016x", featurecore.PlaceHash(), h)
	}
}

func TestPlaceParams(t *testing.T) {
	p := featurecore.DefaultPlaceParams()
	if p.History != 12 || p.StepSeconds != 300 || p.Check() != nil {
		t.Fatalf("defaults %+v: %v", p, p.Check())
	}
	for _, bad := range []featurecore.PlaceParams{
		{History: 1, StepSeconds: 300}, {History: featurecore.MaxStatWindow + 1, StepSeconds: 300},
		{History: -1, StepSeconds: 300}, {History: 1<<32 + 12, StepSeconds: 300},
		{History: 12, StepSeconds: 0}, {History: 12, StepSeconds: 86401},
	} {
		wantError(t, bad.Check(), featurecore.ErrBadParams, "place params", -1, -1, -1)
		in := placeInput(1, max(bad.History, 2)%4096, 1)
		wantError(t, featurecore.PlaceFactors(bad, in, make([]float32, featurecore.PlaceOutputLen(1))),
			featurecore.ErrBadParams, "place", -1, -1, -1)
	}
}

// TestPlaceErrors: every input error is an *Error naming the host, the column and the
// factor, matching one sentinel.
func TestPlaceErrors(t *testing.T) {
	p := featurecore.DefaultPlaceParams()
	out := make([]float32, featurecore.PlaceOutputLen(3))
	col := func(name string) int {
		for i := range featurecore.PlaceColumns {
			if featurecore.PlaceColumnName(i) == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	factor := func(name string) int { return slices.Index(featurecore.PlaceFactorNames(), name) }
	tests := []struct {
		name     string
		edit     func(in *featurecore.PlaceInput)
		sentinel error
		host     int64
		column   string
		factor   string
	}{
		{"nan request", func(in *featurecore.PlaceInput) { in.VMRequest[1] = math.NaN() }, featurecore.ErrMissing, -1, "vm_request.mem_mb", ""},
		{"inf history", func(in *featurecore.PlaceInput) { in.VMHistory[5*placeR+3] = math.Inf(1) }, featurecore.ErrInfinite, -1, "vm_history.net_kbs", ""},
		{"negative info", func(in *featurecore.PlaceInput) { in.VMInfo[0] = -1 }, featurecore.ErrNegative, -1, "vm_info.group_size", ""},
		{"zero capacity", func(in *featurecore.PlaceInput) { in.HostCapacity[2*placeR+2] = 0 }, featurecore.ErrZeroCapacity, 2, "host_capacity.disk_kbs", ""},
		{"-inf allocated", func(in *featurecore.PlaceInput) { in.HostAllocated[1*placeR] = math.Inf(-1) }, featurecore.ErrInfinite, 1, "host_allocated.cpu_mhz", ""},
		{"nan usage", func(in *featurecore.PlaceInput) { in.HostUsage[(2*12+7)*placeR+1] = math.NaN() }, featurecore.ErrMissing, 2, "host_usage.mem_mb", ""},
		{"negative host info", func(in *featurecore.PlaceInput) { in.HostInfo[13+9] = -0.5 }, featurecore.ErrNegative, 1, "host_info.failure_rate", ""},
		{"first host wins", func(in *featurecore.PlaceInput) {
			in.HostInfo[2*13] = math.NaN()
			in.HostUsage[(1*12+11)*placeR+3] = -1
		}, featurecore.ErrNegative, 1, "host_usage.net_kbs", ""},
		{"short history", func(in *featurecore.PlaceInput) { in.VMHistory = in.VMHistory[:11*placeR] }, featurecore.ErrLength, -1, "vm_history.cpu_mhz", ""},
		{"hosts mismatch", func(in *featurecore.PlaceInput) { in.Hosts = 2 }, featurecore.ErrLength, -1, "host_capacity.cpu_mhz", ""},
		{"negative hosts", func(in *featurecore.PlaceInput) { in.Hosts = -1 }, featurecore.ErrLength, -1, "host_capacity.cpu_mhz", ""},
		{"long host info", func(in *featurecore.PlaceInput) { in.HostInfo = append(in.HostInfo, 1) }, featurecore.ErrLength, -1, "host_info.vm_count", ""},
		{"huge usage", func(in *featurecore.PlaceInput) { in.HostUsage[(1*12+3)*placeR+2] = 1e300 }, featurecore.ErrRange, 1, "", "host_mean_disk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := placeInput(3, 12, 9)
			tc.edit(in)
			err := featurecore.PlaceFactors(p, in, out)
			c, f := -1, -1
			if tc.column != "" {
				c = col(tc.column)
			}
			if tc.factor != "" {
				f = factor(tc.factor)
			}
			fe := wantError(t, err, tc.sentinel, "place", tc.host, c, f)
			if fe.ChannelName != tc.column || fe.FeatureName != tc.factor {
				t.Errorf("names %q %q, want %q %q", fe.ChannelName, fe.FeatureName, tc.column, tc.factor)
			}
		})
	}
	in := placeInput(3, 12, 9)
	in.HostUsage[(2*12+7)*placeR+1] = math.NaN()
	want := `featurecore: place: host 2, column "host_usage.mem_mb": ` + featurecore.StatusMissing.Message()
	if err := featurecore.PlaceFactors(p, in, out); err == nil || err.Error() != want {
		t.Errorf("message\n got %v\nwant %s", err, want)
	}
	in = placeInput(3, 12, 9)
	wantError(t, featurecore.PlaceFactors(p, in, out[:len(out)-1]), featurecore.ErrOutputSize, "place", -1, -1, -1)
	wantError(t, featurecore.PlaceFactors(p, nil, out), featurecore.ErrLength, "place", -1, col("vm_request.cpu_mhz"), -1)
	// zero hosts: nothing to write, no error
	in = placeInput(0, 12, 9)
	if err := featurecore.PlaceFactors(p, in, nil); err != nil {
		t.Errorf("zero hosts: %v", err)
	}
	if fe := errorsAsPlace(featurecore.PlaceFactors(p, &featurecore.PlaceInput{}, nil)); fe == nil || fe.Status != featurecore.StatusLength {
		t.Errorf("empty input: %v", fe)
	}
}

// TestPlaceRows: rows are independent of the other hosts and of the output's position;
// every factor is finite and repeated calls give the same bits.
func TestPlaceRows(t *testing.T) {
	p := featurecore.PlaceParams{History: 36, StepSeconds: 300}
	in := placeInput(25, 36, 3)
	all := make([]float32, featurecore.PlaceOutputLen(in.Hosts)+5)
	for i := range all {
		all[i] = -77
	}
	if err := featurecore.PlaceFactors(p, in, all); err != nil {
		t.Fatal(err)
	}
	n := featurecore.PlaceOutputLen(in.Hosts)
	for i, x := range all[:n] {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("out[%d] = %v", i, x)
		}
	}
	for _, x := range all[n:] {
		if x != -77 {
			t.Fatal("wrote past PlaceOutputLen")
		}
	}
	F, H := featurecore.PlaceFactorCount, 36
	one := make([]float32, F)
	for h := range in.Hosts {
		single := &featurecore.PlaceInput{
			VMRequest: in.VMRequest, VMHistory: in.VMHistory, VMInfo: in.VMInfo, Hosts: 1,
			HostCapacity: in.HostCapacity[h*placeR : (h+1)*placeR], HostAllocated: in.HostAllocated[h*placeR : (h+1)*placeR],
			HostUsage: in.HostUsage[h*H*placeR : (h+1)*H*placeR],
			HostInfo:  in.HostInfo[h*featurecore.PlaceHostInfo : (h+1)*featurecore.PlaceHostInfo],
		}
		if err := featurecore.PlaceFactors(p, single, one); err != nil {
			t.Fatal(err)
		}
		if k := sameBits(one, all[h*F:(h+1)*F]); k >= 0 {
			t.Errorf("host %d alone differs at factor %s", h, featurecore.PlaceFactorName(k))
		}
	}
}

// TestPlaceNoAllocation: the hot path allocates nothing.
func TestPlaceNoAllocation(t *testing.T) {
	p := featurecore.DefaultPlaceParams()
	in := placeInput(100, 12, 4)
	out := make([]float32, featurecore.PlaceOutputLen(in.Hosts))
	allocs := testing.AllocsPerRun(50, func() {
		if err := featurecore.PlaceFactors(p, in, out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("PlaceFactors allocates %v times per call", allocs)
	}
}
