package featurecore

// #include "feature_core.h"
import "C"

import "math"

// Sizes of the placement factors, taken from feature_core.h so they cannot drift.
const (
	PlaceResources   = C.FC_PLACE_RESOURCES // R: cpu_mhz, mem_mb, disk_kbs, net_kbs, in this order everywhere
	PlaceVMInfo      = C.FC_PLACE_VM_INFO   // columns of PlaceInput.VMInfo
	PlaceHostInfo    = C.FC_PLACE_HOST_INFO // columns of each host's row of PlaceInput.HostInfo
	PlaceFactorCount = C.FC_PLACE_FACTORS   // F: factors per (VM, host) row
	PlaceColumns     = C.FC_PLACE_COLUMNS   // input columns an *Error of PlaceFactors can name
)

// headerPlaceHash is FC_PLACE_HASH of the header this package was compiled with.
const headerPlaceHash uint64 = C.FC_PLACE_HASH

// PlaceParams are the placement-factor parameters (fc_place_params). A placement model's
// bundle records them: a model must be served with the PlaceParams it was trained with.
type PlaceParams struct {
	History     int   // H: history samples per resource in VMHistory and HostUsage, 2..MaxStatWindow
	StepSeconds int64 // spacing of the history samples, 1..86400 (trends are per hour)
}

// DefaultPlaceParams returns the core's defaults (fc_place_params_init): History 12 samples
// of StepSeconds 300, the last hour.
func DefaultPlaceParams() PlaceParams {
	var cp C.fc_place_params
	C.fc_place_params_init(&cp)
	return PlaceParams{History: int(cp.history), StepSeconds: int64(cp.step_seconds)}
}

// toC fills the C struct; a History that does not fit uint32 becomes 0, which the core
// rejects.
func (p PlaceParams) toC(cp *C.fc_place_params) {
	cp.history = u32(p.History, 0)
	cp.step_seconds = C.int64_t(p.StepSeconds)
}

// Check validates the parameters (fc_place_params_check); PlaceFactors checks them too.
func (p PlaceParams) Check() error {
	var cp C.fc_place_params
	p.toC(&cp)
	ce := noError()
	if st := C.fc_place_params_check(&cp, &ce); st != C.FC_OK {
		return newPlaceError("place params", st, &ce)
	}
	return nil
}

// PlaceInput is one VM request and its candidate hosts: flat, row-major slices, every value
// finite and >= 0, capacities > 0 (R = PlaceResources, H = PlaceParams.History, n = Hosts):
//
//	VMRequest     R      reserved capacity the VM asks for
//	VMHistory     H*R    the VM's observed demand, oldest sample first
//	VMInfo        PlaceVMInfo columns (PlaceVMInfoNames): group_size, peers
//	HostCapacity  n*R    each host's capacity
//	HostAllocated n*R    the requests of each host's resident VMs, summed
//	HostUsage     n*H*R  their observed demand, summed, oldest sample first
//	HostInfo      n*PlaceHostInfo columns (PlaceHostInfoNames)
//
// docs/placement-contract.md defines every column, docs/placement-factors.md every factor.
type PlaceInput struct {
	VMRequest, VMHistory, VMInfo                     []float64
	Hosts                                            int
	HostCapacity, HostAllocated, HostUsage, HostInfo []float64
}

// PlaceOutputLen returns the float32s PlaceFactors writes for hosts candidate hosts:
// hosts * PlaceFactorCount (0 for hosts < 0 or on overflow).
func PlaceOutputLen(hosts int) int {
	if hosts < 0 || hosts > math.MaxInt/PlaceFactorCount {
		return 0
	}
	return hosts * PlaceFactorCount
}

// hostsC converts Hosts for the core; a negative count becomes a value the core rejects
// as too large (FC_ERR_LENGTH), so the core alone decides.
func hostsC(n int) C.size_t {
	if n < 0 {
		return ^C.size_t(0)
	}
	return C.size_t(n)
}

// PlaceFactors computes the placement factors of one VM request against in.Hosts
// candidate hosts (fc_place_factors): row h of out, out[h*PlaceFactorCount:
// (h+1)*PlaceFactorCount], holds the factors of (VM, host h) in PlaceFactorNames order.
// out must hold at least PlaceOutputLen(in.Hosts) float32s.
//
// The slices are passed to C in place: nothing is copied and nothing is allocated unless
// the call fails. Every input is validated first (the VM, then host by host); on error out
// holds unspecified values and the *Error names the host (Index, -1 for a VM input), the
// input column (Channel / ChannelName, e.g. "host_usage.mem_mb") and, for ErrRange, the
// factor (Feature / FeatureName). A capacity of 0 matches ErrZeroCapacity. Safe for
// concurrent use.
func PlaceFactors(p PlaceParams, in *PlaceInput, out []float32) error {
	var cp C.fc_place_params
	p.toC(&cp)
	if in == nil {
		in = &PlaceInput{}
	}
	ce := noError()
	st := C.fc_place_factors(&cp,
		f64ptr(in.VMRequest), C.size_t(len(in.VMRequest)),
		f64ptr(in.VMHistory), C.size_t(len(in.VMHistory)),
		f64ptr(in.VMInfo), C.size_t(len(in.VMInfo)),
		hostsC(in.Hosts),
		f64ptr(in.HostCapacity), C.size_t(len(in.HostCapacity)),
		f64ptr(in.HostAllocated), C.size_t(len(in.HostAllocated)),
		f64ptr(in.HostUsage), C.size_t(len(in.HostUsage)),
		f64ptr(in.HostInfo), C.size_t(len(in.HostInfo)),
		f32ptr(out), C.size_t(len(out)), &ce)
	if st != C.FC_OK {
		return newPlaceError("place", st, &ce)
	}
	return nil
}

// Names read from the core once, so the Go strings cannot drift from it.
var (
	placeFactorNames   = cNames(PlaceFactorCount, func(i C.size_t) *C.char { return C.fc_place_factor_name(i) })
	placeColumnNames   = cNames(PlaceColumns, func(i C.size_t) *C.char { return C.fc_place_column_name(i) })
	placeResourceNames = cNames(PlaceResources, func(i C.size_t) *C.char { return C.fc_place_resource_name(i) })
	placeVMInfoNames   = cNames(PlaceVMInfo, func(i C.size_t) *C.char { return C.fc_place_vm_info_name(i) })
	placeHostInfoNames = cNames(PlaceHostInfo, func(i C.size_t) *C.char { return C.fc_place_host_info_name(i) })
)

func cNames(n int, name func(C.size_t) *C.char) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = C.GoString(name(C.size_t(i)))
	}
	return out
}

// PlaceFactorNames returns the factor names in row order ("vm_request_cpu", ...); the slice
// is the caller's.
func PlaceFactorNames() []string { return append([]string(nil), placeFactorNames...) }

// PlaceFactorName returns the name of factor i, or "" when i is out of range.
func PlaceFactorName(i int) string { return nameAt(placeFactorNames, i) }

// PlaceColumnName returns the name of input column i as errors report it
// ("host_usage.mem_mb"), or "" when i is out of range.
func PlaceColumnName(i int) string { return nameAt(placeColumnNames, i) }

// PlaceResourceNames returns the resources in order: cpu_mhz, mem_mb, disk_kbs, net_kbs.
func PlaceResourceNames() []string { return append([]string(nil), placeResourceNames...) }

// PlaceVMInfoNames returns the columns of PlaceInput.VMInfo.
func PlaceVMInfoNames() []string { return append([]string(nil), placeVMInfoNames...) }

// PlaceHostInfoNames returns the columns of a host's row of PlaceInput.HostInfo.
func PlaceHostInfoNames() []string { return append([]string(nil), placeHostInfoNames...) }

func nameAt(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return ""
	}
	return names[i]
}

// PlaceHash returns the placement hash (64-bit FNV-1a over the input columns and factor
// names, computed by the core; equals FC_PLACE_HASH). A placement model's bundle records
// it; a different value means the factors have changed.
func PlaceHash() uint64 {
	var h C.uint64_t
	C.fc_place_hash(&h)
	return uint64(h)
}

// newPlaceError converts a failing placement call into an *Error: Channel is an input
// column, Feature a factor.
func newPlaceError(op string, st C.fc_status, ce *C.fc_error) error {
	return locatedError(op, st, ce,
		func(i int) string { return nameAt(placeColumnNames, i) },
		func(i int) string { return nameAt(placeFactorNames, i) })
}
