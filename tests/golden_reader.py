"""Reader of golden/features_v1.txt (docs/golden-format.md) for the Python tests."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "features_v1.txt"


@dataclass
class Vector:
    name: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    def ints(self, key: str) -> list[int]:
        return [int(t) for t in self.fields.get(key, [])]

    def int(self, key: str) -> int:
        return int(self.fields[key][0])

    def doubles(self, key: str) -> np.ndarray:
        return np.array([struct.unpack(">d", bytes.fromhex(t))[0] for t in self.fields[key]],
                        dtype=np.float64)

    def bits32(self, key: str) -> np.ndarray:
        return np.array([int(t, 16) for t in self.fields.get(key, [])], dtype=np.uint32)

    def bits64(self, key: str) -> np.ndarray:
        return np.array([int(t, 16) for t in self.fields.get(key, [])], dtype=np.uint64)


@dataclass
class GoldenFile:
    header: dict[str, list[str]]
    schema_hashes: dict[str, int]
    vectors: list[Vector]


def read(path: Path = GOLDEN) -> GoldenFile:
    lines = path.read_text().splitlines()
    if lines[0] != "dwcp-fc-golden 1":
        raise ValueError(f"{path}: not a dwcp-fc-golden 1 file")
    header: dict[str, list[str]] = {}
    hashes: dict[str, int] = {}
    vectors: list[Vector] = []
    current: Vector | None = None
    for line in lines[1:]:
        if not line or line.startswith("#"):
            continue
        key, *tokens = line.split(" ")
        if key == "vector":
            current = Vector(tokens[0])
        elif key == "end":
            assert current is not None
            vectors.append(current)
            current = None
        elif current is not None:
            current.fields[key] = tokens
        elif key == "schema_hash":
            hashes[tokens[0]] = int(tokens[1], 16)
        else:
            header[key] = tokens
    return GoldenFile(header, hashes, vectors)


def ulp_distance32(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray | int:
    """Distance of float32 bit patterns (scalars or arrays) on the monotonic integer line."""

    def line(bits: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits, dtype=np.int64)
        return np.where(bits & 0x80000000, -(bits & 0x7FFFFFFF), bits)

    distance = np.abs(line(a) - line(b))
    return int(distance) if distance.ndim == 0 else distance


def ulp_distance64(a: int, b: int) -> int:
    def line(bits: int) -> int:
        return -(bits & 0x7FFFFFFFFFFFFFFF) if bits & 0x8000000000000000 else bits

    return abs(line(a) - line(b))
