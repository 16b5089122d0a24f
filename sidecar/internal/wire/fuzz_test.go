package wire

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// Request kinds: the first byte of a fuzz input picks the message the rest decodes into.
const (
	kindForecast byte = iota
	kindAnomaly
	kindCapacity
	kindPlace
	kindPredict
	kindReload
	numKinds
)

// decodeRequest unmarshals data into the request of kind and converts it to engine types
// as the server does; errors are fine, panics are not.
func decodeRequest(kind byte, data []byte) {
	switch kind % numKinds {
	case kindForecast:
		var r pb.ForecastBandwidthRequest
		if proto.Unmarshal(data, &r) == nil {
			SeriesFromProto(r.GetSeries())
		}
	case kindAnomaly:
		var r pb.AnomalyScoreRequest
		if proto.Unmarshal(data, &r) == nil {
			SeriesFromProto(r.GetSeries())
		}
	case kindCapacity:
		var r pb.RecommendCapacityRequest
		if proto.Unmarshal(data, &r) == nil {
			SeriesFromProto(r.GetSeries())
		}
	case kindPlace:
		var r pb.PlaceVMRequest
		if proto.Unmarshal(data, &r) == nil {
			_, _ = PlacementRequestsFromProto(r.GetRequests())
		}
	case kindPredict:
		var r pb.PredictRequest
		_ = proto.Unmarshal(data, &r)
	case kindReload:
		var r pb.ReloadRequest
		_ = proto.Unmarshal(data, &r)
	}
}

// FuzzDecodeRequest feeds arbitrary bytes through request decoding and conversion.
func FuzzDecodeRequest(f *testing.F) {
	series := []*pb.Series{{Timestamps: []int64{0, 300, 600}, Values: []float64{1, 2, 3}}}
	seeds := []struct {
		kind byte
		msg  proto.Message
	}{
		{kindForecast, &pb.ForecastBandwidthRequest{Series: series}},
		{kindAnomaly, &pb.AnomalyScoreRequest{Series: series}},
		{kindCapacity, &pb.RecommendCapacityRequest{Series: series}},
		{kindPlace, &pb.PlaceVMRequest{Requests: []*pb.PlacementRequest{{
			Vm:    &pb.VMRequest{Id: "vm1", Request: []float64{2, 4096, 100}},
			Hosts: []*pb.HostState{{Id: "h1", Capacity: []float64{32, 65536, 10000}, Allocated: []float64{0, 0, 0}}},
		}}}},
		{kindPredict, &pb.PredictRequest{Model: "anomaly", Rows: 1, Features: []float64{0.5}}},
		{kindReload, &pb.ReloadRequest{BundleDir: "golden/bundle"}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{s.kind}, b...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		decodeRequest(data[0], data[1:])
	})
}
