package bundle

import (
	"encoding/json"
	"fmt"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
)

// PlacementKind is raw.kind of a placement model's golden file.
const PlacementKind = "placement"

// GoldenPlacement is one request of a placement model's golden file: the request as the
// Engine takes it and the hosts the hard constraints leave (ascending indices into
// Request.Hosts). The golden input holds, request after request, the factor rows of the
// Feasible hosts, and the output their scores, all in one batch. Feasible is nil when the
// golden does not record it (the factor rows still prove the filter).
type GoldenPlacement struct {
	Request  engine.PlacementRequest
	Feasible []int
}

// goldenRequest is one entry of raw.requests; vectors are big-endian float64 hex (H64).
type goldenRequest struct {
	VM struct {
		Request    string   `json:"request"`
		History    string   `json:"history"`
		Group      string   `json:"group"`
		GroupSize  int      `json:"group_size"`
		GroupHosts []string `json:"group_hosts"`
		PeerHosts  []string `json:"peer_hosts"`
	} `json:"vm"`
	Hosts []struct {
		ID          string `json:"id"`
		Domain      string `json:"domain"`
		Capacity    string `json:"capacity"`
		Allocated   string `json:"allocated"`
		Usage       string `json:"usage"`
		VMCount     int    `json:"vm_count"`
		NICMbps     string `json:"nic_mbps"`
		FailureRate string `json:"failure_rate"`
		Cost        string `json:"cost"`
		Maintenance bool   `json:"maintenance"`
	} `json:"hosts"`
	Overcommit string `json:"overcommit"`
	Feasible   []int  `json:"feasible"`
}

// parsePlacements reads raw.requests of a placement golden; history is the model's H.
func parsePlacements(raw json.RawMessage, history int) ([]GoldenPlacement, error) {
	var reqs []goldenRequest
	if err := json.Unmarshal(raw, &reqs); err != nil {
		return nil, fmt.Errorf("raw.requests: %v", err)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("raw.requests is empty")
	}
	hist := history * engine.NumResources
	out := make([]GoldenPlacement, len(reqs))
	for i, r := range reqs {
		if len(r.Hosts) == 0 {
			return nil, fmt.Errorf("raw.requests[%d].hosts is empty; a golden request lists the whole cluster", i)
		}
		var err error
		at := func(field string, n int, text string) []float64 {
			if err != nil {
				return nil
			}
			var v []float64
			if v, err = float64s(text, n); err != nil {
				err = fmt.Errorf("raw.requests[%d].%s: %v", i, field, err)
			}
			return v
		}
		res := func(field, text string) (x engine.Resources) {
			copy(x[:], at(field, engine.NumResources, text))
			return x
		}
		one := func(field, text string) float64 {
			if v := at(field, 1, text); len(v) == 1 {
				return v[0]
			}
			return 0
		}
		p := &out[i].Request
		p.VM = engine.VMRequest{
			Request: res("vm.request", r.VM.Request), History: at("vm.history", hist, r.VM.History),
			Group: r.VM.Group, GroupSize: r.VM.GroupSize, GroupHosts: r.VM.GroupHosts, PeerHosts: r.VM.PeerHosts,
		}
		p.Overcommit = res("overcommit", r.Overcommit)
		p.Hosts = make([]engine.HostState, len(r.Hosts))
		for j, h := range r.Hosts {
			f := fmt.Sprintf("hosts[%d].", j)
			p.Hosts[j] = engine.HostState{
				ID: h.ID, Domain: h.Domain, Capacity: res(f+"capacity", h.Capacity),
				Allocated: res(f+"allocated", h.Allocated), Usage: at(f+"usage", hist, h.Usage),
				VMCount: h.VMCount, NICMbps: one(f+"nic_mbps", h.NICMbps),
				FailureRate: one(f+"failure_rate", h.FailureRate), Cost: one(f+"cost", h.Cost),
				Maintenance: h.Maintenance,
			}
		}
		if err != nil {
			return nil, err
		}
		out[i].Feasible = r.Feasible
	}
	return out, nil
}
