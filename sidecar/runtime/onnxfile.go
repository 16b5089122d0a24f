package runtime

import (
	"fmt"
	"os"

	ort "github.com/yalue/onnxruntime_go"
)

// ONNXFile is one ONNX model outside any bundle, in an ONNX Runtime session made exactly
// as the served ones are (the same library lookup and session options: CPU, sequential,
// 1 intra-op and 1 inter-op thread). It exists so that a candidate model (a compressed or
// searched one) can be timed and its outputs compared with Python's before it is put in a
// bundle: nothing is verified here. The model must have one float32 input and one float32
// output. It is not safe for concurrent use.
type ONNXFile struct {
	session        *ort.DynamicAdvancedSession
	Input, Output  string // tensor names
	LibraryVersion string
}

// OpenONNXFile loads path with the library FindLibrary(libraryPath) names.
func OpenONNXFile(path, libraryPath string) (*ONNXFile, error) {
	_, version, err := startLibrary(libraryPath)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime cannot read it: %w", path, err)
	}
	for _, io := range [][]ort.InputOutputInfo{ins, outs} {
		if len(io) != 1 || io[0].OrtValueType != ort.ONNXTypeTensor ||
			io[0].DataType != ort.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("%s: needs one float32 input and one float32 output tensor", path)
		}
	}
	opts, err := sessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{ins[0].Name},
		[]string{outs[0].Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime cannot load it: %w", path, err)
	}
	return &ONNXFile{session: s, Input: ins[0].Name, Output: outs[0].Name, LibraryVersion: version}, nil
}

// OutputShape runs in (of shape inShape) once with an output ONNX Runtime allocates and
// returns that output's shape and values.
func (f *ONNXFile) OutputShape(in []float32, inShape []int64) ([]int64, []float32, error) {
	inT, err := ort.NewTensor(ort.Shape(inShape), in)
	if err != nil {
		return nil, nil, fmt.Errorf("input tensor: %w", err)
	}
	defer inT.Destroy()
	outs := []ort.Value{nil}
	if err := f.session.Run([]ort.Value{inT}, outs); err != nil {
		return nil, nil, fmt.Errorf("ONNX Runtime: %w", err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("output %s is not a float32 tensor", f.Output)
	}
	return t.GetShape().Clone(), append([]float32(nil), t.GetData()...), nil
}

// Run runs in (inShape) into out (outShape) the way a served model call does: both
// tensors wrap the Go slices and are released before Run returns.
func (f *ONNXFile) Run(in []float32, inShape []int64, out []float32, outShape []int64) error {
	inT, err := ort.NewTensor(ort.Shape(inShape), in)
	if err != nil {
		return fmt.Errorf("input tensor: %w", err)
	}
	defer inT.Destroy()
	outT, err := ort.NewTensor(ort.Shape(outShape), out)
	if err != nil {
		return fmt.Errorf("output tensor: %w", err)
	}
	defer outT.Destroy()
	if err := f.session.Run([]ort.Value{inT}, []ort.Value{outT}); err != nil {
		return fmt.Errorf("ONNX Runtime: %w", err)
	}
	return nil
}

// Close releases the session.
func (f *ONNXFile) Close() {
	if f.session != nil {
		f.session.Destroy()
		f.session = nil
	}
}
