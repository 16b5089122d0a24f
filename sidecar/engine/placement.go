package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// Resources, in this order everywhere (docs/placement-contract.md): CPU in MHz, memory in
// MB, disk throughput (read + write) in KB/s, network throughput (receive + transmit) in
// KB/s.
const (
	ResourceCPU  = 0 // cpu_mhz
	ResourceMem  = 1 // mem_mb
	ResourceDisk = 2 // disk_kbs
	ResourceNet  = 3 // net_kbs

	NumResources = 4
)

// ResourceNames are the resources' names, indexed by ResourceCPU ... ResourceNet.
var ResourceNames = [NumResources]string{"cpu_mhz", "mem_mb", "disk_kbs", "net_kbs"}

// Resources holds one value per resource, indexed by ResourceCPU ... ResourceNet.
type Resources [NumResources]float64

// PlacementRequest asks where to place one VM: DWCP's PlaceVM(ctx, vm, constraints)
// with the cluster state the decision is made on. Every value must be finite and >= 0.
type PlacementRequest struct {
	VM VMRequest
	// Hosts is every host of the cluster, in the cluster's order (ties between equal scores
	// go to the lowest index). Hosts in maintenance and full hosts belong here too: the
	// failure-domain statistics of the factors (domain_cpu_share, domain_hosts) count them.
	Hosts []HostState
	// Overcommit is the reservation limit per resource as a multiple of capacity: a host
	// is feasible when Allocated + Request <= Capacity × Overcommit for every resource. A
	// zero entry takes the bundle's default (thresholds overcommit_<resource> of the
	// placement model: CPU 4, memory, disk and network 1).
	Overcommit Resources
	// Domains is the number of failure domains D of the spread limit ceil(GroupSize / D);
	// 0 means the distinct Domain values among Hosts. It may exceed them (racks without a
	// host in the request), never fall below.
	Domains int
}

// VMRequest is the VM to place.
type VMRequest struct {
	ID      string    // the caller's name for the VM, used in messages only
	Request Resources // the capacity it reserves (what Allocated counts)
	// History is the VM's observed demand over the last H samples of the model's step
	// (ModelInfo.WindowSamples × StepSeconds; 12 × 300 s for the default model), NumResources
	// values per sample, sample-major, oldest first: History[s*NumResources+r]. For a new VM,
	// its demand in a previous run.
	History []float64
	// Group is the VM's anti-affinity group ("" = none), used in messages; GroupSize is the
	// declared size of its deployment, the VM included. Anti-affinity (no two members on a
	// host) and failure-domain spread (at most ceil(GroupSize / Domains) members per domain)
	// apply when GroupSize > 1.
	Group     string
	GroupSize int
	// GroupHosts holds the host ID of every placed, alive member of the group, the VM
	// itself excluded, one entry per member (so a host may repeat): at most GroupSize - 1.
	GroupHosts []string
	// PeerHosts holds the host ID of every placed, alive peer (a VM of the same tenant, the
	// VM itself excluded), one entry per peer: the network-locality factors count them.
	PeerHosts []string
}

// HostState is one host as the scheduler sees it now.
type HostState struct {
	ID        string    // unique within the request
	Domain    string    // failure domain (rack); "" is a domain like any other
	Capacity  Resources // physical capacity, each > 0
	Allocated Resources // the requests of its resident VMs, summed
	// Usage is the observed demand of its resident VMs, summed, over the same H samples as
	// VMRequest.History and in the same layout.
	Usage       []float64
	VMCount     int     // resident VMs
	NICMbps     float64 // NIC bandwidth, Mbit/s
	FailureRate float64 // failures per year
	Cost        float64 // relative cost per hour (1 = the reference host)
	Maintenance bool    // in a maintenance window: takes no VM
}

// Placement is the answer to a PlacementRequest: the chosen host, its score, and why.
type Placement struct {
	Host      string  // ID of the chosen host
	HostIndex int     // its index in PlacementRequest.Hosts
	Score     float64 // the model's score of placing the VM there (a float32); higher is better
	Model     ModelRef
	Hosts     int // hosts in the request
	Feasible  int // hosts that satisfy every hard constraint; the model scored each
	// Rejected lists every host removed by a hard constraint, in host order, with every
	// constraint it fails.
	Rejected []Rejection
	// Ranking is the best feasible hosts by score, at most 5, best first (ties: lowest
	// index); Ranking[0] is the chosen host, Ranking[1] the runner-up.
	Ranking []HostScore
	// Reference is the host TopFactors compare with: the best feasible host that scored
	// lower than the chosen one (the runner-up, unless it ties: a tie is decided by host
	// index, not by a factor). Zero (Host "") when only one host is feasible or all tie.
	Reference HostScore
	// TopFactors are the factors that decided between the chosen host and Reference, at
	// most 5, most decisive first (batched occlusion: see FactorEffect). Empty without a
	// Reference, or when no single factor set to the Reference's value lowers the chosen
	// host's score (the decision rests on several factors together).
	TopFactors []FactorEffect
}

// HostScore is one feasible host's score.
type HostScore struct {
	Host      string
	HostIndex int
	Score     float64
}

// FactorEffect is one placement factor's part in the decision, by occlusion: the chosen
// host's factor row is scored again with this one factor set to the Reference host's
// value (all such rows in one model batch). Delta = that score - Score: negative when the
// chosen host's value of the factor is a reason it won.
type FactorEffect struct {
	Name      string  // factor name (featurecore.PlaceFactorNames, docs/placement-factors.md)
	Index     int     // its column in the model's input row
	Value     float64 // the chosen host's value (a float32)
	Reference float64 // the Reference host's value (a float32)
	Delta     float64 // score with Reference in place of Value, minus the chosen host's score
}

// Constraint names a hard constraint of placement.
type Constraint int

const (
	ConstraintMaintenance  Constraint = iota + 1 // the host is in maintenance
	ConstraintCapacity                           // Allocated + Request > Capacity × Overcommit for a resource
	ConstraintAntiAffinity                       // a member of the VM's group is on the host
	ConstraintSpread                             // the host's domain holds ceil(GroupSize / Domains) members already
)

// Constraints lists every constraint, in the order messages report them.
var Constraints = []Constraint{ConstraintCapacity, ConstraintAntiAffinity, ConstraintSpread, ConstraintMaintenance}

func (c Constraint) String() string {
	switch c {
	case ConstraintMaintenance:
		return "maintenance"
	case ConstraintCapacity:
		return "capacity"
	case ConstraintAntiAffinity:
		return "anti-affinity"
	case ConstraintSpread:
		return "spread"
	}
	return "constraint(" + strconv.Itoa(int(c)) + ")"
}

// Rejection is a host that failed at least one hard constraint.
type Rejection struct {
	Host       string
	HostIndex  int
	Violations []Violation // every constraint it fails; one per resource for capacity
}

// Violation is one failed constraint with the numbers that decided it. String renders it:
//
//	capacity mem_mb: 61440 + 8192 > 65536 × 1
//	anti-affinity: group g3 already on host (1 member)
//	spread: 2 of group g3 in domain r1, limit 2
//	maintenance
type Violation struct {
	Constraint Constraint
	// Capacity: Allocated + Request > Capacity × Overcommit for Resource.
	Resource                                 int
	Allocated, Request, Capacity, Overcommit float64
	// Anti-affinity and spread: Count members of Group on the host (anti-affinity) or in
	// its Domain (spread), whose Limit is ceil(GroupSize / Domains).
	Group  string
	Domain string
	Count  int
	Limit  int
}

func (v Violation) String() string {
	switch v.Constraint {
	case ConstraintCapacity:
		name := "resource " + strconv.Itoa(v.Resource)
		if v.Resource >= 0 && v.Resource < NumResources {
			name = ResourceNames[v.Resource]
		}
		return "capacity " + name + ": " + num(v.Allocated) + " + " + num(v.Request) + " > " +
			num(v.Capacity) + " × " + num(v.Overcommit)
	case ConstraintAntiAffinity:
		s := "anti-affinity: group " + groupName(v.Group) + " already on host"
		if v.Count > 1 {
			s += " (" + strconv.Itoa(v.Count) + " members)"
		}
		return s
	case ConstraintSpread:
		return "spread: " + strconv.Itoa(v.Count) + " of group " + groupName(v.Group) + " in domain " +
			groupName(v.Domain) + ", limit " + strconv.Itoa(v.Limit)
	}
	return v.Constraint.String()
}

// groupName shows an empty group or domain name as "".
func groupName(g string) string {
	if g == "" {
		return `""`
	}
	return g
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// String lists the host and its violations: "h3: capacity mem_mb: ...; maintenance".
func (r Rejection) String() string {
	var b strings.Builder
	b.WriteString(r.Host)
	for i, v := range r.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Fails reports whether r violates c.
func (r Rejection) Fails(c Constraint) bool {
	for _, v := range r.Violations {
		if v.Constraint == c {
			return true
		}
	}
	return false
}

// RejectedBy counts the hosts each constraint removed; a host that fails several
// constraints counts for each (so the counts may add up to more than len(rejected)).
func RejectedBy(rejected []Rejection) map[Constraint]int {
	out := map[Constraint]int{}
	for _, r := range rejected {
		for _, c := range Constraints {
			if r.Fails(c) {
				out[c]++
			}
		}
	}
	return out
}

// NoFeasibleHostError is the cause (Error.Err) of a CodeNoFeasibleHost error: every host
// of the request with every hard constraint it fails. errors.As finds it, in-process and
// through the sidecar.
type NoFeasibleHostError struct {
	Request  int // index of the request in the batch (0 for PlaceVM)
	Hosts    int // hosts in the request; all of them are in Rejected
	Rejected []Rejection
}

// Error reads like
//
//	no feasible host among 40: capacity removed 31 (e.g. h3: capacity mem_mb: 61440 + 8192 > 65536 × 1),
//	anti-affinity removed 2 (e.g. h7: ...), spread removed 9 (e.g. h11: ...), maintenance removed 1 (e.g. h9)
//
// listing each constraint that removed a host with how many and the first such host.
func (e *NoFeasibleHostError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no feasible host among %d", e.Hosts)
	counts := RejectedBy(e.Rejected)
	sep := ": "
	for _, c := range Constraints {
		if counts[c] == 0 {
			continue
		}
		r, v := firstFailing(e.Rejected, c)
		fmt.Fprintf(&b, "%s%s removed %d (e.g. %s", sep, c, counts[c], r.Host)
		if c != ConstraintMaintenance {
			b.WriteString(": " + v.String())
		}
		b.WriteString(")")
		sep = ", "
	}
	return b.String()
}

// firstFailing returns the first rejection failing c and its violation of c.
func firstFailing(rejected []Rejection, c Constraint) (Rejection, Violation) {
	for _, r := range rejected {
		for _, v := range r.Violations {
			if v.Constraint == c {
				return r, v
			}
		}
	}
	return Rejection{}, Violation{}
}

// Summary is a one-line account of a placement for logs:
//
//	h17 (score 0.8123); 38 of 40 hosts feasible (capacity removed 2); vs h4 (0.799):
//	host_mean_cpu -0.0102, ...
func (p Placement) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (score %.6g", p.Host, p.Score)
	if len(p.Ranking) > 1 && p.Ranking[1].Score == p.Score {
		fmt.Fprintf(&b, ", tied with %s: the lowest index wins", p.Ranking[1].Host)
	}
	fmt.Fprintf(&b, "); %d of %d hosts feasible", p.Feasible, p.Hosts)
	counts := RejectedBy(p.Rejected)
	sep := " ("
	for _, c := range Constraints {
		if counts[c] > 0 {
			fmt.Fprintf(&b, "%s%s removed %d", sep, c, counts[c])
			sep = ", "
		}
	}
	if sep == ", " {
		b.WriteString(")")
	}
	switch {
	case p.Feasible == 1:
		b.WriteString("; the only feasible host")
	case p.Reference.Host == "":
		b.WriteString("; every feasible host scores the same")
	default:
		fmt.Fprintf(&b, "; vs %s (%.6g):", p.Reference.Host, p.Reference.Score)
		if len(p.TopFactors) == 0 {
			b.WriteString(" no single factor decides")
		}
		for i, f := range p.TopFactors {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s %+.4g", f.Name, f.Delta)
		}
	}
	return b.String()
}
