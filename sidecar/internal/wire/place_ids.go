package wire

import (
	"fmt"
	"strings"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// PackHostIDs sets r's host ids as one concatenated string and the end offset of each
// (one field to marshal and one string to allocate on the other side, instead of one per
// id). It returns false, leaving r alone, when the ids do not fit in uint32 offsets.
func PackHostIDs(r *pb.PlacementRequest, ids []string) bool {
	n := 0
	for _, id := range ids {
		n += len(id)
	}
	if n > 1<<32-1 {
		return false
	}
	var b strings.Builder
	b.Grow(n)
	ends := make([]uint32, len(ids))
	for i, id := range ids {
		b.WriteString(id)
		ends[i] = uint32(b.Len())
	}
	r.HostIdsConcat, r.HostIdEnds = b.String(), ends
	return true
}

// HeldHostIDs returns the host ids of a held request in either form; the packed form's
// ids share one string. Offsets that do not rise within the string, or both forms at
// once, are an error naming the fault.
func HeldHostIDs(r *pb.PlacementRequest) ([]string, error) { return HeldHostIDsTo(r, nil) }

// HeldHostIDsTo is HeldHostIDs splitting the packed form into dst's memory when it has the
// room (dst's contents are overwritten); the repeated form is returned as it is in r.
func HeldHostIDsTo(r *pb.PlacementRequest, dst []string) ([]string, error) {
	ends, all := r.GetHostIdEnds(), r.GetHostIdsConcat()
	if len(ends) == 0 && all == "" {
		return r.GetHostIds(), nil
	}
	if len(r.GetHostIds()) > 0 {
		return nil, fmt.Errorf("%d host_ids and %d packed host ids: one form only", len(r.GetHostIds()), len(ends))
	}
	ids := dst[:0]
	if cap(ids) < len(ends) {
		ids = make([]string, 0, len(ends))
	}
	ids = ids[:len(ends)]
	start := uint32(0)
	for i, end := range ends {
		if end < start || int(end) > len(all) {
			return nil, fmt.Errorf("packed host id %d ends at byte %d, after %d, of %d", i, end, start, len(all))
		}
		ids[i], start = all[start:end], end
	}
	if int(start) != len(all) {
		return nil, fmt.Errorf("packed host ids end at byte %d of %d", start, len(all))
	}
	return ids, nil
}
