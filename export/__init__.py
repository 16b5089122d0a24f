"""ONNX export of every model family, metadata stamping, native-vs-ONNX verification and
the versioned bundle (``dwcp_ml.export``)."""
