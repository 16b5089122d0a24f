package runtime

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// supportedOpsets are the operator sets the bundle format pins (spec/model.py).
var supportedOpsets = map[string]int{"ai.onnx": 18, "ai.onnx.ml": 3}

// ModelProto.opset_import and OperatorSetIdProto's fields (onnx/onnx.proto).
const (
	fieldOpsetImport  protowire.Number = 8
	fieldOpsetDomain  protowire.Number = 1
	fieldOpsetVersion protowire.Number = 2
)

// onnxOpsets reads the opset imports of a serialised ONNX ModelProto: domain -> version,
// the default domain "" spelled "ai.onnx". ONNX Runtime does not expose them.
func onnxOpsets(model []byte) (map[string]int, error) {
	opsets := map[string]int{}
	err := eachField(model, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != fieldOpsetImport || typ != protowire.BytesType {
			return nil
		}
		domain, version := "ai.onnx", 0
		err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
			switch {
			case num == fieldOpsetDomain && typ == protowire.BytesType && len(v) > 0:
				domain = string(v)
			case num == fieldOpsetVersion && typ == protowire.VarintType:
				version = int(int64(n))
			}
			return nil
		})
		opsets[domain] = version
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("not a valid ONNX model: %w", err)
	}
	return opsets, nil
}

// eachField calls fn with each top-level field of a protobuf message: the payload of
// length-delimited fields, the value of varints and of fixed32s (a float's bits).
func eachField(msg []byte, fn func(protowire.Number, protowire.Type, []byte, uint64) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		var payload []byte
		var value uint64
		switch typ {
		case protowire.BytesType:
			payload, n = protowire.ConsumeBytes(msg)
		case protowire.VarintType:
			value, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			value = uint64(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if err := fn(num, typ, payload, value); err != nil {
			return err
		}
	}
	return nil
}
