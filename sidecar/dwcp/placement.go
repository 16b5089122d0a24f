package dwcp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// PlacementEngine is what the Placer calls: the online store the demand samples go to
// and engine.Engine's placement calls. *store.Online and *client.Client implement it.
type PlacementEngine interface {
	OnlineStore
	PlaceVM(ctx context.Context, req engine.PlacementRequest) (engine.Placement, error)
	PlaceVMBatch(ctx context.Context, reqs []engine.PlacementRequest) ([]engine.Placement, error)
}

// NodeType is DWCP's kind of compute node.
type NodeType int

// DWCP's node types (Constraints.RequiredNodeType 0 = any, as in DWCP).
const (
	NodeTypeCloud NodeType = iota
	NodeTypeEdge
	NodeTypeVolunteer
	NodeTypeDatacenter
)

// VM is DWCP's VM to place (ITPv3's VM). Units are DWCP's: cores, bytes, GPU units.
type VM struct {
	ID              string
	Name            string  // ignored (messages use ID)
	RequestedCPU    int     // cores: request cpu_mhz = cores × PlacerConfig.MHzPerCore
	RequestedMemory int64   // bytes: request mem_mb = bytes / 2^20
	RequestedDisk   int64   // bytes of storage: a hard constraint of the adapter (AvailableDisk)
	RequestedGPU    int     // GPU units: a hard constraint of the adapter (AvailableGPU)
	Priority        float64 // ignored: a batch decides every VM on the same state, order does not matter

	// AntiAffinityGroup: no two members on one node, and the failure-domain spread (at most
	// ceil(GroupSize / racks) per rack), enforced by the engine. The members are the
	// resident VMs (Node.VMs) of the group; GroupSize = placed members + 1.
	AntiAffinityGroup string
	// AffinityGroup: the placed VMs of the group are the VM's peers, which the model's
	// network-locality factors count (a preference, not a hard constraint).
	AffinityGroup   string
	RequiredRegions []string          // hard constraint of the adapter: Node.Region in the list
	ExcludedRegions []string          // hard constraint of the adapter: Node.Region not in it
	RequiredLabels  map[string]string // hard constraint of the adapter: Node.Labels has each

	// Not set by the adapter: PlaceVM decides, the caller (who owns the cluster state)
	// commits the placement.
	PlacementTime  time.Time
	PlacedNode     *Node
	PlacementScore float64
}

// Node is DWCP's compute node (ITPv3's Node), in DWCP's units.
type Node struct {
	ID     string
	Name   string // ignored
	Type   NodeType
	Region string
	Zone   string // ignored (the failure domain is the rack)
	Rack   string // the failure domain of the spread constraint and the domain factors

	TotalCPU    int   // cores: capacity cpu_mhz = cores × MHzPerCore
	TotalMemory int64 // bytes: capacity mem_mb = bytes / 2^20
	TotalDisk   int64 // bytes of storage: checked >= AvailableDisk only
	TotalGPU    int   // checked >= AvailableGPU only

	AvailableCPU    int   // allocated cpu_mhz = (TotalCPU - AvailableCPU) × MHzPerCore
	AvailableMemory int64 // allocated mem_mb = (TotalMemory - AvailableMemory) / 2^20
	AvailableDisk   int64 // storage constraint: >= VM.RequestedDisk
	AvailableGPU    int   // GPU constraint: >= VM.RequestedGPU

	CPUFrequency     float64 // GHz; ignored (one MHzPerCore for VMs and nodes keeps DWCP's core arithmetic)
	MemoryBandwidth  float64 // GB/s; ignored
	NetworkBandwidth float64 // Gbps: NICMbps = × 1000, capacity net_kbs = floor(Mbps × 1e6 / 8 / 1024)
	DiskIOPS         int64   // capacity disk_kbs = IOPS × PlacerConfig.DiskKBPerIO (0: DefaultDiskKBs)

	Uptime          time.Duration // Constraints.RequiredUptime
	FailureRate     float64       // failures per year, to the model unchanged
	MaintenanceMode bool          // the engine's maintenance constraint
	CostPerHour     float64       // cost = CostPerHour / ReferenceCostPerHour

	Labels map[string]string // VM.RequiredLabels
	VMs    []*VM             // resident VMs: VMCount, group members, peers, allocated throughput
}

// Constraints is DWCP's placement constraints, applied by the adapter before the model.
type Constraints struct {
	MaxLatency       time.Duration // ignored: a Node carries no latency
	MinBandwidth     float64       // Gbps: Node.NetworkBandwidth >= it
	RequiredUptime   float64       // fraction of a year: Node.Uptime / 365 days >= it
	MaxCostPerHour   float64       // Node.CostPerHour <= it (0 = no limit)
	DataLocality     bool          // ignored
	RequiredNodeType NodeType      // 0 = any (DWCP's rule)
}

// Placer defaults.
const (
	DefaultDiskKBPerIO = 4       // KB per I/O: disk_kbs = DiskIOPS × 4
	DefaultDiskKBs     = 512_000 // disk_kbs of a node without DiskIOPS: 500 MB/s (the simulator's standard host)
	DefaultNICMbps     = 10_000  // NIC of a node without NetworkBandwidth: 10 Gbit/s (the standard host)
	bytesPerMB         = 1 << 20 // MB = 2^20 bytes, as the simulator's mem_gb × 1024
	secondsPerYear     = 365 * 86400
)

// PlacerConfig configures a Placer; the zero value is the default.
type PlacerConfig struct {
	MHzPerCore  float64 // default MHzPerCore (2600)
	DiskKBPerIO float64 // default DefaultDiskKBPerIO
	DiskKBs     float64 // default DefaultDiskKBs
	NICMbps     float64 // default DefaultNICMbps
	// ReferenceCostPerHour is the cost of the reference host (the model's cost 1); 0 means
	// CostPerHour is already relative.
	ReferenceCostPerHour float64
	// Overcommit per resource (cpu_mhz, mem_mb, disk_kbs, net_kbs); a zero entry is 1:
	// DWCP's own rule, Available >= Requested. (The engine's zero would be the bundle's
	// defaults, CPU 4.)
	Overcommit engine.Resources
}

// Placer is DWCP's ITPv3 PlaceVM / PlaceVMBatch over the placement model, on the nodes
// given to SetNodes (the caller's pointers: it reads them at every call) and the demand
// histories the online store holds from ObserveVM and ObserveNode (the placement
// model's history H of each, resampled by the feature core). Safe for concurrent use.
type Placer struct {
	eng   PlacementEngine
	cfg   PlacerConfig
	model engine.ModelInfo

	mu    sync.RWMutex
	nodes []*Node
}

// windowChunk bounds the entities of one Windows call (the sidecar's batch limit is
// 4,096 by default).
const windowChunk = 1024

// NewPlacer reads the placement model's history length and step from eng.
func NewPlacer(ctx context.Context, eng PlacementEngine, cfg PlacerConfig) (*Placer, error) {
	const op = "new placer"
	def := func(v *float64, d float64, field string) error {
		if *v == 0 {
			*v = d
		}
		if !finite(*v) || *v <= 0 {
			return inputErr(op, "PlacerConfig."+field, *v, ErrBadConfig)
		}
		return nil
	}
	for _, e := range []error{def(&cfg.MHzPerCore, MHzPerCore, "MHzPerCore"), def(&cfg.DiskKBPerIO, DefaultDiskKBPerIO, "DiskKBPerIO"),
		def(&cfg.DiskKBs, DefaultDiskKBs, "DiskKBs"), def(&cfg.NICMbps, DefaultNICMbps, "NICMbps")} {
		if e != nil {
			return nil, e
		}
	}
	if !finite(cfg.ReferenceCostPerHour) || cfg.ReferenceCostPerHour < 0 {
		return nil, inputErr(op, "PlacerConfig.ReferenceCostPerHour", cfg.ReferenceCostPerHour, ErrBadConfig)
	}
	for r, o := range cfg.Overcommit {
		if o == 0 {
			cfg.Overcommit[r] = 1
		} else if !finite(o) || o < 0 {
			return nil, inputErr(op, "PlacerConfig.Overcommit["+engine.ResourceNames[r]+"]", o, ErrBadConfig)
		}
	}
	m, err := modelOf(ctx, eng, op, FamilyPlacement)
	if err != nil {
		return nil, err
	}
	return &Placer{eng: eng, cfg: cfg, model: m}, nil
}

// History is the number of samples H of a VM's or node's demand history the model reads.
func (p *Placer) History() int { return p.model.WindowSamples }

// SetNodes sets the cluster: every node, in the cluster's order (ties go to the first).
// Nodes in maintenance and full nodes belong here too (the rack statistics count them).
func (p *Placer) SetNodes(nodes []*Node) error {
	seen := map[string]bool{}
	for i, n := range nodes {
		field := "nodes[" + strconv.Itoa(i) + "]"
		switch {
		case n == nil:
			return inputErr("set nodes", field, nil, ErrNil)
		case n.ID == "":
			return inputErr("set nodes", field+".ID", nil, ErrEmptyID)
		case seen[n.ID]:
			return inputErr("set nodes", field+".ID", n.ID, ErrDuplicateID)
		}
		seen[n.ID] = true
	}
	p.mu.Lock()
	p.nodes = slices.Clone(nodes)
	p.mu.Unlock()
	return nil
}

// ObserveVM hands one sample of a VM's observed demand in the model's units (cpu_mhz,
// mem_mb, disk_kbs, net_kbs) to the store: entity VMEntity(id), schema host.
func (p *Placer) ObserveVM(id string, t time.Time, demand engine.Resources) error {
	return p.observe(context.Background(), "observe vm", VMEntity(id), id, t, demand)
}

// ObserveNode hands one sample of a node's observed demand (its resident VMs' demand
// summed), in the model's units, to the store: entity NodeEntity(id), schema host (the
// usage history PlaceVM on held host state reads too).
func (p *Placer) ObserveNode(id string, t time.Time, usage engine.Resources) error {
	return p.observe(context.Background(), "observe node", NodeEntity(id), id, t, usage)
}

// VMEntity is the store's entity of a VM's demand history: kind vm, schema host.
func VMEntity(id string) engine.EntityRef { return engine.EntityRef{Kind: engine.EntityVM, ID: id} }

// NodeEntity is the store's entity of a node's usage history: kind host, schema host.
func NodeEntity(id string) engine.EntityRef { return engine.EntityRef{Kind: engine.EntityHost, ID: id} }

// Forget drops the demand histories of VMs and nodes that are gone from the store (ids
// name either), so one that comes back starts a new history.
func (p *Placer) Forget(ids ...string) error {
	refs := make([]engine.EntityRef, 0, 2*len(ids))
	for _, id := range ids {
		refs = append(refs, VMEntity(id), NodeEntity(id))
	}
	return forget(context.Background(), p.eng, "forget", refs...)
}

func (p *Placer) observe(ctx context.Context, op string, ref engine.EntityRef, id string, t time.Time, v engine.Resources) error {
	if id == "" {
		return inputErr(op, "id", nil, ErrEmptyID)
	}
	if t.IsZero() {
		return inputErr(op, "t", nil, ErrNoTimestamp)
	}
	for r, x := range v {
		if err := checkValue(op, engine.ResourceNames[r], x); err != nil {
			return err
		}
	}
	return observe(ctx, p.eng, op, "sample", t, engine.SchemaHost, []engine.EntityRef{ref}, v[:])
}

// histories are the store's placement windows of nodes and VMs that hold all H bins.
type histories struct{ node, vm map[string][]float64 }

// histories reads the windows of every node and of every VM of vms or resident on a
// node from the store (p.mu held for reading).
func (p *Placer) histories(ctx context.Context, op string, vms []*VM) (histories, error) {
	h := histories{node: map[string][]float64{}, vm: map[string][]float64{}}
	var refs []engine.EntityRef
	seen := map[engine.EntityRef]bool{}
	add := func(r engine.EntityRef) {
		if r.ID != "" && !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	for _, n := range p.nodes {
		if n == nil {
			continue
		}
		add(NodeEntity(n.ID))
		for _, vm := range n.VMs {
			if vm != nil {
				add(VMEntity(vm.ID))
			}
		}
	}
	for _, vm := range vms {
		if vm != nil {
			add(VMEntity(vm.ID))
		}
	}
	for len(refs) > 0 {
		chunk := refs[:min(len(refs), windowChunk)]
		refs = refs[len(chunk):]
		ws, err := windows(ctx, p.eng, op, FamilyPlacement, "", true, chunk...)
		if err != nil {
			return histories{}, err
		}
		for i, w := range ws {
			if !w.Ready() {
				continue
			}
			if chunk[i].Kind == engine.EntityHost {
				h.node[chunk[i].ID] = w.Series.Values
			} else {
				h.vm[chunk[i].ID] = w.Series.Values
			}
		}
	}
	return h, nil
}

// Exclusion is a node the adapter's own constraints removed before the model (GPU,
// storage, region, labels, node type, uptime, cost, bandwidth): it goes to the engine as
// in maintenance, so it still counts in its rack's statistics but takes no VM.
type Exclusion struct {
	Node    string
	Reasons []string // e.g. "gpu: 0 available < 1 requested"
}

// Decision is a placement with its reasons.
type Decision struct {
	Node      *Node            // the chosen node (the pointer given to SetNodes)
	Placement engine.Placement // the engine's answer: score, rejected hosts, ranking, top factors
	Excluded  []Exclusion      // nodes the adapter's constraints removed, in node order
	Request   engine.PlacementRequest
}

// NoFeasibleNodeError: no node is left for the VM. It matches ErrNoFeasibleNode and
// unwraps to the engine's error (errors.As finds its *engine.NoFeasibleHostError).
type NoFeasibleNodeError struct {
	VM       string
	Excluded []Exclusion
	Err      error
}

func (e *NoFeasibleNodeError) Error() string {
	s := "dwcp: place vm " + e.VM + ": " + ErrNoFeasibleNode.Error()
	if len(e.Excluded) > 0 {
		s += fmt.Sprintf(" (%d excluded by the adapter's constraints, e.g. %s: %s)", len(e.Excluded),
			e.Excluded[0].Node, e.Excluded[0].Reasons[0])
	}
	return s + ": " + e.Err.Error()
}

func (e *NoFeasibleNodeError) Unwrap() []error { return []error{ErrNoFeasibleNode, e.Err} }

// PlaceVM chooses a node for vm under c (nil = none), as DWCP's ITPv3.PlaceVM, and
// returns the chosen *Node. It does not change the nodes or vm: the caller commits.
func (p *Placer) PlaceVM(ctx context.Context, vm *VM, c *Constraints) (*Node, error) {
	d, err := p.Decide(ctx, vm, c)
	if err != nil {
		return nil, err
	}
	return d.Node, nil
}

// Decide is PlaceVM with the reasons.
func (p *Placer) Decide(ctx context.Context, vm *VM, c *Constraints) (Decision, error) {
	ds, err := p.decide(ctx, "place vm", []*VM{vm}, c)
	if err != nil {
		return Decision{}, err
	}
	return ds[0], nil
}

// PlaceVMBatch places every VM as PlaceVM would, each on the same cluster state (as
// engine.PlaceVMBatch: no placement is applied to the next VM's state, so VMs may land on
// one node together beyond its capacity; DWCP's ITPv3 placed them one after the other),
// scoring all of them in one model batch. The answer maps VM ID to node. Any VM's error
// fails the call.
func (p *Placer) PlaceVMBatch(ctx context.Context, vms []*VM, c *Constraints) (map[string]*Node, error) {
	ds, err := p.decide(ctx, "place vm batch", vms, c)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Node, len(ds))
	for i, d := range ds {
		out[vms[i].ID] = d.Node
	}
	return out, nil
}

// DecideBatch is PlaceVMBatch with the reasons, in vms order.
func (p *Placer) DecideBatch(ctx context.Context, vms []*VM, c *Constraints) ([]Decision, error) {
	return p.decide(ctx, "place vm batch", vms, c)
}

// Requests returns the engine requests PlaceVMBatch sends for vms (the adapter's
// exclusions are the hosts whose Maintenance the node itself does not set).
func (p *Placer) Requests(vms []*VM, c *Constraints) ([]engine.PlacementRequest, error) {
	return p.RequestsContext(context.Background(), vms, c)
}

// RequestsContext is Requests with a context for the store call.
func (p *Placer) RequestsContext(ctx context.Context, vms []*VM, c *Constraints) ([]engine.PlacementRequest, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	reqs, _, err := p.requests(ctx, "place vm batch", vms, c)
	return reqs, err
}

func (p *Placer) decide(ctx context.Context, op string, vms []*VM, c *Constraints) ([]Decision, error) {
	p.mu.RLock()
	reqs, excl, err := p.requests(ctx, op, vms, c)
	nodes := slices.Clone(p.nodes)
	p.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var placements []engine.Placement
	if len(reqs) == 1 {
		var pl engine.Placement
		pl, err = p.eng.PlaceVM(ctx, reqs[0])
		placements = []engine.Placement{pl}
	} else {
		placements, err = p.eng.PlaceVMBatch(ctx, reqs)
	}
	if err != nil {
		var nf *engine.NoFeasibleHostError
		if errors.As(err, &nf) && nf.Request >= 0 && nf.Request < len(vms) {
			return nil, &NoFeasibleNodeError{VM: vms[nf.Request].ID, Excluded: excl[nf.Request], Err: err}
		}
		return nil, engineErr(op, err)
	}
	if len(placements) != len(reqs) {
		return nil, fmt.Errorf("dwcp: %s: %d placements for %d VMs: %w", op, len(placements), len(reqs), engine.ErrInternal)
	}
	out := make([]Decision, len(reqs))
	for i, pl := range placements {
		if pl.HostIndex < 0 || pl.HostIndex >= len(nodes) {
			return nil, fmt.Errorf("dwcp: %s: host index %d of %d nodes: %w", op, pl.HostIndex, len(nodes), engine.ErrInternal)
		}
		out[i] = Decision{Node: nodes[pl.HostIndex], Placement: pl, Excluded: excl[i], Request: reqs[i]}
	}
	return out, nil
}

// requests maps vms on the current nodes; p.mu is held for reading.
func (p *Placer) requests(ctx context.Context, op string, vms []*VM, c *Constraints) ([]engine.PlacementRequest, [][]Exclusion, error) {
	if len(vms) == 0 {
		return nil, nil, inputErr(op, "vms", nil, ErrNil)
	}
	if len(p.nodes) == 0 {
		return nil, nil, inputErr(op, "nodes", nil, ErrNoNodes)
	}
	if c == nil {
		c = &Constraints{}
	}
	if err := checkConstraints(op, c); err != nil {
		return nil, nil, err
	}
	for _, n := range p.nodes {
		if err := checkNodeID(op, n); err != nil {
			return nil, nil, err
		}
	}
	hist, err := p.histories(ctx, op, vms)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := p.hosts(op, hist)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	reqs := make([]engine.PlacementRequest, len(vms))
	excl := make([][]Exclusion, len(vms))
	for i, vm := range vms {
		field := "vms[" + strconv.Itoa(i) + "]"
		if len(vms) == 1 {
			field = "VM"
		}
		if err := checkVM(op, field, vm); err != nil {
			return nil, nil, err
		}
		if seen[vm.ID] {
			return nil, nil, inputErr(op, field+".ID", vm.ID, ErrDuplicateID)
		}
		seen[vm.ID] = true
		reqs[i], excl[i] = p.request(vm, c, hosts, hist)
	}
	return reqs, excl, nil
}

// hosts maps every node to an engine host without the VM-specific parts (Maintenance is
// the node's own flag here).
func (p *Placer) hosts(op string, hist histories) ([]engine.HostState, error) {
	H := p.model.WindowSamples
	out := make([]engine.HostState, len(p.nodes))
	for i, n := range p.nodes {
		field := "nodes[" + strconv.Itoa(i) + "](" + n.ID + ")"
		if err := checkNode(op, field, n); err != nil {
			return nil, err
		}
		nic := n.NetworkBandwidth * 1000
		if n.NetworkBandwidth == 0 {
			nic = p.cfg.NICMbps
		}
		disk := float64(n.DiskIOPS) * p.cfg.DiskKBPerIO
		if n.DiskIOPS == 0 {
			disk = p.cfg.DiskKBs
		}
		cost := n.CostPerHour
		if p.cfg.ReferenceCostPerHour > 0 {
			cost = n.CostPerHour / p.cfg.ReferenceCostPerHour
		}
		h := engine.HostState{ID: n.ID, Domain: n.Rack, VMCount: len(n.VMs), NICMbps: nic,
			FailureRate: n.FailureRate, Cost: cost, Maintenance: n.MaintenanceMode,
			Capacity: engine.Resources{float64(n.TotalCPU) * p.cfg.MHzPerCore, float64(n.TotalMemory) / bytesPerMB,
				disk, math.Floor(nic * 1e6 / 8 / 1024)},
		}
		h.Allocated[engine.ResourceCPU] = float64(n.TotalCPU-n.AvailableCPU) * p.cfg.MHzPerCore
		h.Allocated[engine.ResourceMem] = float64(n.TotalMemory-n.AvailableMemory) / bytesPerMB
		for _, vm := range n.VMs {
			if vm == nil {
				continue
			}
			io := ioRequests(p.vmHistory(vm, H, hist))
			h.Allocated[engine.ResourceDisk] += io[0]
			h.Allocated[engine.ResourceNet] += io[1]
		}
		if u, ok := hist.node[n.ID]; ok {
			h.Usage = u
		} else {
			// Without H observed samples the node is assumed to use what is reserved on it
			// (CPU and memory) and no disk or network throughput.
			u := engine.Resources{h.Allocated[engine.ResourceCPU], h.Allocated[engine.ResourceMem], 0, 0}
			h.Usage = repeat(u, H)
		}
		out[i] = h
	}
	return out, nil
}

// request maps vm against hosts (copied: Maintenance carries the adapter's exclusions).
func (p *Placer) request(vm *VM, c *Constraints, hosts []engine.HostState, hs histories) (engine.PlacementRequest, []Exclusion) {
	H := p.model.WindowSamples
	hist := p.vmHistory(vm, H, hs)
	io := ioRequests(hist)
	req := engine.PlacementRequest{Hosts: slices.Clone(hosts), Overcommit: p.cfg.Overcommit,
		VM: engine.VMRequest{ID: vm.ID, History: hist, Group: vm.AntiAffinityGroup,
			Request: engine.Resources{float64(vm.RequestedCPU) * p.cfg.MHzPerCore, float64(vm.RequestedMemory) / bytesPerMB, io[0], io[1]}}}
	var excl []Exclusion
	for i, n := range p.nodes {
		for _, r := range n.VMs {
			if r == nil || r.ID == vm.ID {
				continue
			}
			if vm.AntiAffinityGroup != "" && r.AntiAffinityGroup == vm.AntiAffinityGroup {
				req.VM.GroupHosts = append(req.VM.GroupHosts, n.ID)
			}
			if vm.AffinityGroup != "" && r.AffinityGroup == vm.AffinityGroup {
				req.VM.PeerHosts = append(req.VM.PeerHosts, n.ID)
			}
		}
		if reasons := excluded(vm, c, n); len(reasons) > 0 {
			excl = append(excl, Exclusion{Node: n.ID, Reasons: reasons})
			req.Hosts[i].Maintenance = true
		}
	}
	if vm.AntiAffinityGroup != "" {
		req.VM.GroupSize = len(req.VM.GroupHosts) + 1
	}
	return req, excl
}

// excluded lists the adapter's constraints node n fails for vm.
func excluded(vm *VM, c *Constraints, n *Node) []string {
	var r []string
	if n.AvailableGPU < vm.RequestedGPU {
		r = append(r, fmt.Sprintf("gpu: %d available < %d requested", n.AvailableGPU, vm.RequestedGPU))
	}
	if n.AvailableDisk < vm.RequestedDisk {
		r = append(r, fmt.Sprintf("storage: %d bytes available < %d requested", n.AvailableDisk, vm.RequestedDisk))
	}
	if len(vm.RequiredRegions) > 0 && !slices.Contains(vm.RequiredRegions, n.Region) {
		r = append(r, fmt.Sprintf("region %q not required", n.Region))
	}
	if slices.Contains(vm.ExcludedRegions, n.Region) {
		r = append(r, fmt.Sprintf("region %q excluded", n.Region))
	}
	for _, k := range sortedKeys(vm.RequiredLabels) {
		if v, ok := n.Labels[k]; !ok || v != vm.RequiredLabels[k] {
			r = append(r, fmt.Sprintf("label %s=%s missing", k, vm.RequiredLabels[k]))
		}
	}
	if c.RequiredNodeType != 0 && n.Type != c.RequiredNodeType {
		r = append(r, fmt.Sprintf("node type %d, required %d", n.Type, c.RequiredNodeType))
	}
	if c.RequiredUptime > 0 {
		if u := n.Uptime.Seconds() / secondsPerYear; u < c.RequiredUptime {
			r = append(r, fmt.Sprintf("uptime %.4g of a year < %g", u, c.RequiredUptime))
		}
	}
	if c.MaxCostPerHour > 0 && n.CostPerHour > c.MaxCostPerHour {
		r = append(r, fmt.Sprintf("cost %g per hour > %g", n.CostPerHour, c.MaxCostPerHour))
	}
	if c.MinBandwidth > 0 && n.NetworkBandwidth < c.MinBandwidth {
		r = append(r, fmt.Sprintf("bandwidth %g Gbps < %g", n.NetworkBandwidth, c.MinBandwidth))
	}
	return r
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// vmHistory is the store's window of the VM's H bins, or, without all of them, its
// request for CPU and memory and no disk or network demand, H times (it is assumed to use
// what it reserves).
func (p *Placer) vmHistory(vm *VM, H int, hs histories) []float64 {
	if v, ok := hs.vm[vm.ID]; ok {
		return v
	}
	u := engine.Resources{float64(vm.RequestedCPU) * p.cfg.MHzPerCore, float64(vm.RequestedMemory) / bytesPerMB, 0, 0}
	return repeat(u, H)
}

func repeat(u engine.Resources, H int) []float64 {
	out := make([]float64, 0, H*engine.NumResources)
	for range H {
		out = append(out, u[:]...)
	}
	return out
}

// ioRequests is the simulator's request rule for disk_kbs and net_kbs
// (training/itp/workload.py io_requests): the size class (1, 2, 5 × 10^k, at least 100)
// of the 95th percentile (linear interpolation, numpy's) of the VM's demand history.
func ioRequests(hist []float64) [2]float64 {
	n := len(hist) / engine.NumResources
	var out [2]float64
	for k, r := range [2]int{engine.ResourceDisk, engine.ResourceNet} {
		col := make([]float64, n)
		for s := range n {
			col[s] = hist[s*engine.NumResources+r]
		}
		out[k] = sizeClass(percentile95(col))
	}
	return out
}

// percentile95 is np.percentile(x, 95) with linear interpolation, in its arithmetic
// (float64() keeps Go from fusing a multiply-add numpy does not fuse).
func percentile95(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	vi := float64(n-1) * (95.0 / 100.0)
	lo := int(math.Floor(vi))
	hi := min(lo+1, n-1)
	g := vi - float64(lo)
	a, b := s[lo], s[hi]
	d := b - a
	if g >= 0.5 {
		return b - float64(d*(1-g))
	}
	return a + float64(d*g)
}

// sizeClass rounds x up to the next 1, 2, 5 × 10^k, at least 100 (workload.size_class).
func sizeClass(x float64) float64 {
	x = max(x, 100)
	base := 1.0
	for base*10 <= x {
		base *= 10
	}
	switch {
	case x <= base:
		return base
	case x <= 2*base:
		return 2 * base
	case x <= 5*base:
		return 5 * base
	}
	return 10 * base
}

func checkConstraints(op string, c *Constraints) error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"MinBandwidth", c.MinBandwidth}, {"RequiredUptime", c.RequiredUptime}, {"MaxCostPerHour", c.MaxCostPerHour}} {
		if err := checkValue(op, "Constraints."+f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func checkVM(op, field string, vm *VM) error {
	switch {
	case vm == nil:
		return inputErr(op, field, nil, ErrNil)
	case vm.ID == "":
		return inputErr(op, field+".ID", nil, ErrEmptyID)
	case vm.RequestedCPU < 0:
		return inputErr(op, field+".RequestedCPU", vm.RequestedCPU, ErrNegative)
	case vm.RequestedMemory < 0:
		return inputErr(op, field+".RequestedMemory", vm.RequestedMemory, ErrNegative)
	case vm.RequestedDisk < 0:
		return inputErr(op, field+".RequestedDisk", vm.RequestedDisk, ErrNegative)
	case vm.RequestedGPU < 0:
		return inputErr(op, field+".RequestedGPU", vm.RequestedGPU, ErrNegative)
	}
	return nil
}

// checkNodeID refuses a nil node or one without an ID before the store is asked (SetNodes
// refused them; the caller owns the pointers).
func checkNodeID(op string, n *Node) error {
	switch {
	case n == nil:
		return inputErr(op, "nodes", nil, ErrNil)
	case n.ID == "":
		return inputErr(op, "nodes.ID", nil, ErrEmptyID)
	}
	return nil
}

func checkNode(op, field string, n *Node) error {
	ints := []struct {
		name             string
		total, available int64
	}{{"CPU", int64(n.TotalCPU), int64(n.AvailableCPU)}, {"Memory", n.TotalMemory, n.AvailableMemory},
		{"Disk", n.TotalDisk, n.AvailableDisk}, {"GPU", int64(n.TotalGPU), int64(n.AvailableGPU)}}
	for _, r := range ints {
		switch {
		case r.total < 0:
			return inputErr(op, field+".Total"+r.name, r.total, ErrNegative)
		case r.available < 0:
			return inputErr(op, field+".Available"+r.name, r.available, ErrNegative)
		case r.available > r.total:
			return inputErr(op, field+".Available"+r.name, r.available,
				fmt.Errorf("%w %d", ErrOverAvailable, r.total))
		case r.total == 0 && (r.name == "CPU" || r.name == "Memory"):
			return inputErr(op, field+".Total"+r.name, r.total, ErrZeroCapacity)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"NetworkBandwidth", n.NetworkBandwidth}, {"FailureRate", n.FailureRate}, {"CostPerHour", n.CostPerHour}} {
		if err := checkValue(op, field+"."+f.name, f.v); err != nil {
			return err
		}
	}
	if n.DiskIOPS < 0 {
		return inputErr(op, field+".DiskIOPS", n.DiskIOPS, ErrNegative)
	}
	return nil
}
