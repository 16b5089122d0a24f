package wire

import (
	"reflect"
	"strings"
	"testing"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// TestPackedHostIDs: host ids survive the packed form (empty and non-ASCII ids included),
// the repeated form still reads, and malformed offsets or both forms are refused.
func TestPackedHostIDs(t *testing.T) {
	for _, ids := range [][]string{{"h0", "h1.1", "", "rack-ß/7"}, {"only"}, {""}} {
		var r pb.PlacementRequest
		if !PackHostIDs(&r, ids) {
			t.Fatal("PackHostIDs refused")
		}
		got, err := HeldHostIDs(&r)
		if err != nil || !reflect.DeepEqual(got, ids) {
			t.Errorf("packed %q: got %q, %v", ids, got, err)
		}
		if got, err := HeldHostIDs(&pb.PlacementRequest{HostIds: ids}); err != nil || !reflect.DeepEqual(got, ids) {
			t.Errorf("repeated %q: got %q, %v", ids, got, err)
		}
	}
	if got, err := HeldHostIDs(&pb.PlacementRequest{}); err != nil || got != nil {
		t.Errorf("no ids: %q, %v", got, err)
	}
	cases := []struct {
		name string
		r    *pb.PlacementRequest
		want string
	}{
		{"both forms", &pb.PlacementRequest{HostIds: []string{"a"}, HostIdsConcat: "a", HostIdEnds: []uint32{1}}, "one form only"},
		{"falling offsets", &pb.PlacementRequest{HostIdsConcat: "abc", HostIdEnds: []uint32{2, 1, 3}}, "packed host id 1 ends at byte 1, after 2, of 3"},
		{"past the end", &pb.PlacementRequest{HostIdsConcat: "abc", HostIdEnds: []uint32{4}}, "ends at byte 4, after 0, of 3"},
		{"short of the end", &pb.PlacementRequest{HostIdsConcat: "abc", HostIdEnds: []uint32{2}}, "end at byte 2 of 3"},
		{"bytes without ends", &pb.PlacementRequest{HostIdsConcat: "abc"}, "end at byte 0 of 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := HeldHostIDs(c.r); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
