"""Model compression: INT8 quantization, pruning, distillation, low-rank (docs/compression.md)."""
