package wire

import (
	"math"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/engine"
	pb "github.com/dwcp/dwcp-ml/sidecar/proto/dwcpml/v1"
)

// SeriesToProto shares the slices with s (marshalling only reads them).
func SeriesToProto(s []engine.Series) []*pb.Series {
	out := make([]*pb.Series, len(s))
	for i := range s {
		out[i] = &pb.Series{Timestamps: s[i].Timestamps, Values: s[i].Values}
	}
	return out
}

// SeriesFromProto shares the slices with s, so a request is not copied on its way to the
// engine.
func SeriesFromProto(s []*pb.Series) []engine.Series {
	out := make([]engine.Series, len(s))
	for i, x := range s {
		out[i] = engine.Series{Timestamps: x.GetTimestamps(), Values: x.GetValues()}
	}
	return out
}

func ForecastToProto(f engine.BandwidthForecast) *pb.BandwidthForecast {
	return &pb.BandwidthForecast{
		Lower: f.Lower, Point: f.Point, Upper: f.Upper,
		QuantileLower: f.QuantileLower, QuantileUpper: f.QuantileUpper,
		HorizonSeconds: seconds(f.Horizon), ValidUntilUnix: unix(f.ValidUntil),
		Model: refToProto(f.Model),
	}
}

func ForecastFromProto(f *pb.BandwidthForecast) engine.BandwidthForecast {
	return engine.BandwidthForecast{
		Lower: f.GetLower(), Point: f.GetPoint(), Upper: f.GetUpper(),
		QuantileLower: f.GetQuantileLower(), QuantileUpper: f.GetQuantileUpper(),
		Horizon: duration(f.GetHorizonSeconds()), ValidUntil: fromUnix(f.GetValidUntilUnix()),
		Model: refFromProto(f.GetModel()),
	}
}

func AnomalyToProto(a engine.AnomalyResult) *pb.AnomalyResult {
	return &pb.AnomalyResult{Score: a.Score, Threshold: a.Threshold, Anomalous: a.Anomalous,
		Model: refToProto(a.Model)}
}

func AnomalyFromProto(a *pb.AnomalyResult) engine.AnomalyResult {
	return engine.AnomalyResult{Score: a.GetScore(), Threshold: a.GetThreshold(),
		Anomalous: a.GetAnomalous(), Model: refFromProto(a.GetModel())}
}

func CapacityToProto(c engine.CapacityRecommendation) *pb.CapacityRecommendation {
	return &pb.CapacityRecommendation{
		PredictedPeakMhz: c.PredictedPeakMHz, Units: int64(c.Units), CapacityMhz: c.CapacityMHz,
		Headroom: c.Headroom, UnitMhz: c.UnitMHz, HorizonSeconds: seconds(c.Horizon),
		Model: refToProto(c.Model),
	}
}

func CapacityFromProto(c *pb.CapacityRecommendation) engine.CapacityRecommendation {
	return engine.CapacityRecommendation{
		PredictedPeakMHz: c.GetPredictedPeakMhz(), Units: int(c.GetUnits()), CapacityMHz: c.GetCapacityMhz(),
		Headroom: c.GetHeadroom(), UnitMHz: c.GetUnitMhz(), Horizon: duration(c.GetHorizonSeconds()),
		Model: refFromProto(c.GetModel()),
	}
}

func VersionsToProto(v engine.Versions) *pb.Versions {
	out := &pb.Versions{Bundle: v.Bundle, BundleDir: v.BundleDir, FeatureCore: v.FeatureCore,
		Onnxruntime: v.ONNXRuntime, Models: make([]*pb.ModelInfo, len(v.Models))}
	if !v.LoadedAt.IsZero() {
		out.LoadedAtUnixNano = v.LoadedAt.UnixNano()
	}
	for i, m := range v.Models {
		out.Models[i] = &pb.ModelInfo{
			Name: m.Name, Family: m.Family, Version: m.Version, Schema: m.Schema,
			SchemaHash: m.SchemaHash, Sha256: m.SHA256, InputShape: m.InputShape,
			OutputShape: m.OutputShape, WindowSamples: int32(m.WindowSamples),
			StepSeconds: m.StepSeconds, Thresholds: m.Thresholds,
		}
	}
	return out
}

func VersionsFromProto(v *pb.Versions) engine.Versions {
	out := engine.Versions{Bundle: v.GetBundle(), BundleDir: v.GetBundleDir(),
		FeatureCore: v.GetFeatureCore(), ONNXRuntime: v.GetOnnxruntime()}
	if ns := v.GetLoadedAtUnixNano(); ns != 0 {
		out.LoadedAt = time.Unix(0, ns).UTC()
	}
	for _, m := range v.GetModels() {
		out.Models = append(out.Models, engine.ModelInfo{
			Name: m.GetName(), Family: m.GetFamily(), Version: m.GetVersion(), Schema: m.GetSchema(),
			SchemaHash: m.GetSchemaHash(), SHA256: m.GetSha256(), InputShape: m.GetInputShape(),
			OutputShape: m.GetOutputShape(), WindowSamples: int(m.GetWindowSamples()),
			StepSeconds: m.GetStepSeconds(), Thresholds: m.GetThresholds(),
		})
	}
	return out
}

func refToProto(r engine.ModelRef) *pb.ModelRef {
	return &pb.ModelRef{Name: r.Name, Version: r.Version, Bundle: r.Bundle}
}

func refFromProto(r *pb.ModelRef) engine.ModelRef {
	return engine.ModelRef{Name: r.GetName(), Version: r.GetVersion(), Bundle: r.GetBundle()}
}

// seconds and duration round-trip every duration below about 100 days exactly (the float64
// error of the two conversions stays far below half a nanosecond there).
func seconds(d time.Duration) float64 { return d.Seconds() }

func duration(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// unix maps the zero time to 0 (unset), as the answers' times are never the Unix epoch;
// times come back in UTC, as the runtime gives them.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
