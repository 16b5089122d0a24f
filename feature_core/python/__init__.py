"""Python face of the C feature core (cffi, API mode).

Every model feature is computed by the C library in ``feature_core/``; this module only moves
numpy arrays in and out without copying and turns C status codes into exceptions. It never
computes or re-sums a feature itself.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._native import ffi, lib

__all__ = [
    "VERSION",
    "Schema",
    "Params",
    "FeatureCoreError",
    "NullPointerError",
    "UnknownSchemaError",
    "BadParamsError",
    "LengthError",
    "OutputSizeError",
    "MissingValueError",
    "InfiniteValueError",
    "NegativeValueError",
    "TimeOrderError",
    "TimeGapError",
    "RangeError",
    "TimeRangeError",
    "ZeroCapacityError",
    "EdgeOrderError",
    "EmptyError",
    "ConstantError",
    "PlacementParams",
    "PLACEMENT_RESOURCES",
    "PLACEMENT_VM_INFO",
    "PLACEMENT_HOST_INFO",
    "PLACEMENT_FACTORS",
    "PLACEMENT_COLUMNS",
    "PLACEMENT_HASH",
    "placement_factors",
    "window",
    "windows",
    "windows_count",
    "grid",
    "resample",
    "DRIFT_VERSION",
    "DRIFT_MAX_BINS",
    "DRIFT_DEFAULT_BINS",
    "DRIFT_DEFAULT_EPSILON",
    "DRIFT_MIN_EPSILON",
    "drift_ln",
    "quantile_edges",
    "histogram",
    "psi",
    "ks",
    "PARTITION_VERSION",
    "PARTITION_MAX_STREAMS",
    "PARTITION_MAX_BYTES",
    "PARTITION_DEFAULT_FEC_OVERHEAD",
    "PARTITION_MAX_FEC_OVERHEAD",
    "PartitionParams",
    "Partition",
    "partition_chunks",
    "TreeUnsupportedError",
    "TreeShapeError",
    "TREES_VERSION",
    "TREES_KERNELS",
    "TreeEnsembleAttributes",
    "Trees",
]

VERSION: str = ffi.string(lib.fc_version_string()).decode()
if lib.fc_version_number() != lib.FC_VERSION_NUMBER:  # pragma: no cover - broken install
    raise ImportError(
        f"feature core library {VERSION} does not match the header it was built with "
        f"({lib.FC_VERSION_NUMBER}); reinstall dwcp-ml"
    )


class Schema(enum.IntEnum):
    """Ordered input channels plus the target series of the statistical features."""

    VM = lib.FC_SCHEMA_VM
    LINK = lib.FC_SCHEMA_LINK
    METRIC = lib.FC_SCHEMA_METRIC

    @property
    def label(self) -> str:
        return ffi.string(lib.fc_schema_name(self)).decode()

    @property
    def channels(self) -> tuple[str, ...]:
        n = lib.fc_schema_channels(self)
        return tuple(ffi.string(lib.fc_channel_name(self, i)).decode() for i in range(n))

    @property
    def features(self) -> tuple[str, ...]:
        n = lib.fc_schema_features(self)
        return tuple(ffi.string(lib.fc_feature_name(self, i)).decode() for i in range(n))

    @property
    def hash(self) -> int:
        out = ffi.new("uint64_t *")
        _check(lib.fc_schema_hash(self, out), None, "schema_hash", self)
        return int(out[0])

    @classmethod
    def parse(cls, name: str) -> Schema:
        for schema in cls:
            if schema.label == name:
                return schema
        known = ", ".join(s.label for s in cls)
        raise UnknownSchemaError(f"unknown schema {name!r}; known schemas: {known}")


@dataclass(frozen=True)
class Params:
    """fc_params: every field travels in the model bundle.

    center/scale hold one value per feature (normalised = (x - center) / scale); empty means
    the identity.
    """

    schema: Schema = Schema.VM
    seq_len: int = 12
    stat_window: int = 12
    step_seconds: int = 300
    fill_limit: int = 2
    center: tuple[float, ...] = field(default=())
    scale: tuple[float, ...] = field(default=())

    @property
    def n_features(self) -> int:
        return len(self.schema.features)

    @property
    def n_channels(self) -> int:
        return len(self.schema.channels)

    @property
    def input_len(self) -> int:
        """Samples one window needs (seq_len + stat_window - 1)."""
        return self.seq_len + self.stat_window - 1

    def to_c(self):  # noqa: ANN201 - cffi cdata
        """Builds (and checks) the C struct."""
        p = ffi.new("fc_params *")
        _check(lib.fc_params_init(p, int(self.schema)), None, "params", self.schema)
        for name in ("seq_len", "stat_window", "step_seconds", "fill_limit"):
            value = int(getattr(self, name))
            if value < 0 or value > 2**31 - 1:
                raise BadParamsError(f"params: {name}={value} is out of range")
            setattr(p, name, value)
        for name in ("center", "scale"):
            values = getattr(self, name)
            if not values:
                continue
            if len(values) != self.n_features:
                raise BadParamsError(
                    f"params: {name} has {len(values)} values, schema {self.schema.label} "
                    f"has {self.n_features} features"
                )
            getattr(p, name)[0 : len(values)] = [float(v) for v in values]
        err = ffi.new("fc_error *")
        _check(lib.fc_params_check(p, err), err, "params", self.schema)
        return p


class FeatureCoreError(ValueError):
    """A status other than FC_OK from the feature core.

    Attributes mirror fc_error: ``index`` (sample or bin), ``channel``/``feature`` (names,
    or None) and ``status`` (the C status name).
    """

    status: str = "FC_ERR_UNKNOWN_STATUS"

    def __init__(
        self,
        message: str,
        index: int | None = None,
        channel: str | None = None,
        feature: str | None = None,
    ) -> None:
        super().__init__(message)
        self.index = index
        self.channel = channel
        self.feature = feature


class NullPointerError(FeatureCoreError):
    status = "FC_ERR_NULL_POINTER"


class UnknownSchemaError(FeatureCoreError):
    status = "FC_ERR_UNKNOWN_SCHEMA"


class BadParamsError(FeatureCoreError):
    status = "FC_ERR_BAD_PARAMS"


class LengthError(FeatureCoreError):
    status = "FC_ERR_LENGTH"


class OutputSizeError(FeatureCoreError):
    status = "FC_ERR_OUTPUT_SIZE"


class MissingValueError(FeatureCoreError):
    status = "FC_ERR_MISSING"


class InfiniteValueError(FeatureCoreError):
    status = "FC_ERR_INFINITE"


class NegativeValueError(FeatureCoreError):
    status = "FC_ERR_NEGATIVE"


class TimeOrderError(FeatureCoreError):
    status = "FC_ERR_TIME_ORDER"


class TimeGapError(FeatureCoreError):
    status = "FC_ERR_TIME_GAP"


class RangeError(FeatureCoreError):
    status = "FC_ERR_RANGE"


class TimeRangeError(FeatureCoreError):
    status = "FC_ERR_TIME_RANGE"


class ZeroCapacityError(FeatureCoreError):
    status = "FC_ERR_ZERO_CAPACITY"


class EdgeOrderError(FeatureCoreError):
    status = "FC_ERR_EDGE_ORDER"


class EmptyError(FeatureCoreError):
    status = "FC_ERR_EMPTY"


class ConstantError(FeatureCoreError):
    status = "FC_ERR_CONSTANT"


class TreeUnsupportedError(FeatureCoreError):
    status = "FC_ERR_TREE_UNSUPPORTED"


class TreeShapeError(FeatureCoreError):
    status = "FC_ERR_TREE_SHAPE"


# Keyed by fc_status_name, so the binding never assumes the enum's numeric values.
_ERRORS: dict[str, type[FeatureCoreError]] = {
    cls.status: cls
    for cls in (
        NullPointerError, UnknownSchemaError, BadParamsError, LengthError, OutputSizeError,
        MissingValueError, InfiniteValueError, NegativeValueError, TimeOrderError,
        TimeGapError, RangeError, TimeRangeError, ZeroCapacityError, EdgeOrderError,
        EmptyError, ConstantError, TreeUnsupportedError, TreeShapeError,
    )
}


def _raise_status(status: int, err, op: str, index_word: str,  # noqa: ANN001 - cdata
                  channel: tuple[str, Callable[[int], str]],
                  feature: tuple[str, Callable[[int], str]]) -> None:
    """Raises the exception of a non-OK status, its message prefixed with op and where
    fc_error located the problem: ``index_word`` names err.index, ``channel`` and
    ``feature`` give the word and the name lookup for err.channel and err.feature."""
    if status == 0:
        return
    name = ffi.string(lib.fc_status_name(status)).decode()
    cls = _ERRORS.get(name, FeatureCoreError)
    message = ffi.string(lib.fc_status_message(status)).decode()
    where: list[str] = []
    located: dict[str, object] = {"index": None, "channel": None, "feature": None}
    if err is not None and err.status == status:
        if err.index >= 0:
            located["index"] = int(err.index)
            where.append(f"{index_word} {int(err.index)}")
        for key, (word, lookup), value in (("channel", channel, err.channel),
                                          ("feature", feature, err.feature)):
            if value >= 0:
                located[key] = lookup(int(value))
                where.append(f"{word} {located[key]!r}")
    prefix = f"{op}: " + (", ".join(where) + ": " if where else "")
    raise cls(prefix + message, **located)


def _check(status: int, err, op: str, schema: Schema) -> None:  # noqa: ANN001 - cdata
    """Raises the exception of a window-feature status: index is a sample (a bin for
    resample's range errors), channel and feature are named by the schema."""
    if status == 0:
        return
    cls = _ERRORS.get(ffi.string(lib.fc_status_name(status)).decode())
    _raise_status(
        status, err, op, "bin" if op == "resample" and cls is RangeError else "sample",
        ("channel", lambda c: ffi.string(lib.fc_channel_name(schema, c)).decode()),
        ("feature", lambda f: ffi.string(lib.fc_feature_name(schema, f)).decode()))


def _timestamps(ts: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(ts)
    if arr.ndim != 1:
        raise LengthError(f"timestamps must be a 1-d array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TimeRangeError(
            f"timestamps must be integer Unix seconds, got dtype {arr.dtype}; "
            "convert with .astype('int64') after checking they are whole seconds"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def _values(values: ArrayLike, n_channels: int) -> NDArray[np.float64]:
    """Contiguous float64 rows of n_channels (no copy when the input already is one)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_channels:
        raise LengthError(
            f"values must have shape (samples, {n_channels}) for this schema, got {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def _buf(kind: str, arr: np.ndarray, *, writable: bool = False):  # noqa: ANN202 - cdata
    """Zero-copy pointer into a numpy array (NULL for an empty one)."""
    if not arr.size:
        return ffi.NULL
    return ffi.from_buffer(kind, arr, require_writable=writable)


def _inputs(params: Params, ts: ArrayLike, values: ArrayLike):  # noqa: ANN202
    p = params.to_c()
    ts_arr = _timestamps(ts)
    val_arr = _values(values, params.n_channels)
    return p, ts_arr, val_arr, ffi.new("fc_error *")


def window(params: Params, ts: ArrayLike, values: ArrayLike) -> NDArray[np.float32]:
    """Features of one window, (seq_len, features) float32, from exactly
    ``params.input_len`` samples on the step grid."""
    p, ts_arr, val_arr, err = _inputs(params, ts, values)
    out = np.empty((params.seq_len, params.n_features), np.float32)
    status = lib.fc_window(
        p, _buf("int64_t[]", ts_arr), ts_arr.size, _buf("double[]", val_arr), val_arr.size,
        _buf("float[]", out, writable=True), out.size, err,
    )
    _check(status, err, "window", params.schema)
    return out


def windows_count(params: Params, n_samples: int, stride: int = 1) -> int:
    """Windows :func:`windows` yields from n_samples samples."""
    return int(lib.fc_windows_count(params.to_c(), n_samples, stride))


def windows(
    params: Params, ts: ArrayLike, values: ArrayLike, *, stride: int = 1
) -> NDArray[np.float32]:
    """Every window of a regular trace, (n_windows, seq_len, features) float32.

    Window k covers samples [k*stride, k*stride + params.input_len). One C call for the
    whole trace, no Python loop over rows; each window has the bits :func:`window` gives.
    """
    if stride < 1:
        raise BadParamsError(f"windows: stride must be >= 1, got {stride}")
    p, ts_arr, val_arr, err = _inputs(params, ts, values)
    count = int(lib.fc_windows_count(p, ts_arr.size, stride))
    out = np.empty((count, params.seq_len, params.n_features), np.float32)
    n = ffi.new("size_t *")
    status = lib.fc_windows(
        p, _buf("int64_t[]", ts_arr), ts_arr.size, _buf("double[]", val_arr), val_arr.size,
        stride, _buf("float[]", out, writable=True), out.size, n, err,
    )
    _check(status, err, "windows", params.schema)
    return out


def grid(params: Params, ts: ArrayLike) -> tuple[int, int]:
    """(t0, n_bins) of the step grid covering the timestamps (any order)."""
    p = params.to_c()
    ts_arr = _timestamps(ts)
    t0 = ffi.new("int64_t *")
    n_bins = ffi.new("size_t *")
    err = ffi.new("fc_error *")
    status = lib.fc_grid(p, _buf("int64_t[]", ts_arr), ts_arr.size, t0, n_bins, err)
    _check(status, err, "grid", params.schema)
    return int(t0[0]), int(n_bins[0])


def resample(
    params: Params, ts: ArrayLike, values: ArrayLike, t0: int | None = None,
    n_bins: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint32]]:
    """Raw samples (any order) onto the step grid: (grid timestamps, bin means, counts).

    Empty bins repeat the last bin for up to ``fill_limit`` bins, then are NaN (missing).
    The grid defaults to :func:`grid` of the timestamps.
    """
    p, ts_arr, val_arr, err = _inputs(params, ts, values)
    if t0 is None or n_bins is None:
        t0, n_bins = grid(params, ts_arr)
    out = np.empty((n_bins, params.n_channels), np.float64)
    counts = np.empty(n_bins, np.uint32)
    status = lib.fc_resample(
        p, t0, n_bins, _buf("int64_t[]", ts_arr), ts_arr.size, _buf("double[]", val_arr),
        val_arr.size, _buf("double[]", out, writable=True), out.size,
        _buf("uint32_t[]", counts, writable=True), counts.size, err,
    )
    _check(status, err, "resample", params.schema)
    grid_ts = t0 + params.step_seconds * np.arange(n_bins, dtype=np.int64)
    return grid_ts, out, counts


# ---- placement factors (ITP) --------------------------------------------------------


def _names(fn, n: int) -> tuple[str, ...]:  # noqa: ANN001 - cffi function
    return tuple(ffi.string(fn(i)).decode() for i in range(n))


#: Resources, in the order of every resource axis: cpu_mhz, mem_mb, disk_kbs, net_kbs.
PLACEMENT_RESOURCES: tuple[str, ...] = _names(lib.fc_place_resource_name,
                                              lib.FC_PLACE_RESOURCES)
#: Columns of ``vm_info``.
PLACEMENT_VM_INFO: tuple[str, ...] = _names(lib.fc_place_vm_info_name, lib.FC_PLACE_VM_INFO)
#: Columns of ``host_info``.
PLACEMENT_HOST_INFO: tuple[str, ...] = _names(lib.fc_place_host_info_name,
                                              lib.FC_PLACE_HOST_INFO)
#: Factor names, the columns of :func:`placement_factors` (docs/placement-factors.md).
PLACEMENT_FACTORS: tuple[str, ...] = _names(lib.fc_place_factor_name, lib.fc_place_factor_count())
#: Input columns as errors name them ("host_usage.mem_mb").
PLACEMENT_COLUMNS: tuple[str, ...] = _names(lib.fc_place_column_name, lib.FC_PLACE_COLUMNS)


def _place_hash() -> int:
    out = ffi.new("uint64_t *")
    if lib.fc_place_hash(out) != 0:  # pragma: no cover - cannot fail with a pointer
        raise FeatureCoreError("fc_place_hash failed")
    return int(out[0])


#: 64-bit FNV-1a over the input columns and factor names (FC_PLACE_HASH).
PLACEMENT_HASH: int = _place_hash()


@dataclass(frozen=True)
class PlacementParams:
    """fc_place_params: the history behind the placement factors.

    ``history`` is H, the samples per resource in ``vm_history`` and ``host_usage`` (2 ..
    2048, oldest first); ``step_seconds`` their spacing (trends are per hour).
    """

    history: int = 12
    step_seconds: int = 300

    def to_c(self):  # noqa: ANN201 - cffi cdata
        """Builds (and checks) the C struct."""
        p = ffi.new("fc_place_params *")
        lib.fc_place_params_init(p)
        if not 0 <= int(self.history) <= 2**32 - 1:
            raise BadParamsError(f"placement params: history={self.history} is out of range")
        if not -(2**63) <= int(self.step_seconds) <= 2**63 - 1:
            raise BadParamsError(
                f"placement params: step_seconds={self.step_seconds} is out of range")
        p.history = int(self.history)
        p.step_seconds = int(self.step_seconds)
        err = ffi.new("fc_error *")
        _check_place(lib.fc_place_params_check(p, err), err, "placement params")
        return p


def _check_place(status: int, err, op: str) -> None:  # noqa: ANN001 - cdata
    """Raises the exception of a placement status: index is the host, channel the input
    column ("host_usage.mem_mb"), feature the factor."""
    _raise_status(status, err, op, "host", ("column", PLACEMENT_COLUMNS.__getitem__),
                  ("factor", PLACEMENT_FACTORS.__getitem__))


def _place_array(name: str, value: ArrayLike, shape: tuple[int | None, ...]) -> NDArray[np.float64]:
    """Contiguous float64 array of the given shape (None: any length), not copied when it
    already is one; a wrong shape raises LengthError naming the array."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != len(shape) or any(w is not None and a != w for a, w in zip(arr.shape, shape)):
        want = "(" + ", ".join("n_hosts" if w is None else str(w) for w in shape) + (
            ",)" if len(shape) == 1 else ")")
        raise LengthError(f"placement_factors: {name} must have shape {want}, got {arr.shape}")
    return np.ascontiguousarray(arr)


def placement_factors(
    params: PlacementParams,
    vm_request: ArrayLike,
    vm_history: ArrayLike,
    vm_info: ArrayLike,
    host_capacity: ArrayLike,
    host_allocated: ArrayLike,
    host_usage: ArrayLike,
    host_info: ArrayLike,
    *,
    out: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """Placement factors of one VM request against n candidate hosts: (n, F) float32.

    Shapes (R = 4 resources, H = ``params.history``): vm_request (R,), vm_history (H, R),
    vm_info (2,), host_capacity (n, R), host_allocated (n, R), host_usage (n, H, R),
    host_info (n, 13); column names in PLACEMENT_RESOURCES, PLACEMENT_VM_INFO and
    PLACEMENT_HOST_INFO, factor names in PLACEMENT_FACTORS. One C call for all hosts;
    float64 C-contiguous inputs are passed without a copy, and ``out`` (float32, C
    order, shape (n, F)) is written in place when given. Bad values raise the
    FeatureCoreError of their status, naming the host and input column.
    """
    R, H = len(PLACEMENT_RESOURCES), int(params.history)
    p = params.to_c()
    req = _place_array("vm_request", vm_request, (R,))
    hist = _place_array("vm_history", vm_history, (H, R))
    vinfo = _place_array("vm_info", vm_info, (len(PLACEMENT_VM_INFO),))
    cap = _place_array("host_capacity", host_capacity, (None, R))
    n = cap.shape[0]
    alloc = _place_array("host_allocated", host_allocated, (n, R))
    usage = _place_array("host_usage", host_usage, (n, H, R))
    hinfo = _place_array("host_info", host_info, (n, len(PLACEMENT_HOST_INFO)))
    shape = (n, len(PLACEMENT_FACTORS))
    if out is None:
        out = np.empty(shape, np.float32)
    elif (not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise OutputSizeError(
            f"placement_factors: out must be a writable C-contiguous float32 array of shape "
            f"{shape}")
    _place_call(p, n, (req, hist, vinfo, cap, alloc, usage, hinfo), out)
    return out


def _place_call(p, n_hosts: int, arrays: tuple[np.ndarray, ...],  # noqa: ANN001 - cdata
                out: np.ndarray) -> None:
    """fc_place_factors on contiguous float64 arrays of any length (the lengths are the
    arrays' sizes, so the core judges them) into out; raises on a failing status."""
    err = ffi.new("fc_error *")
    args: list = [p]
    for i, arr in enumerate(arrays):
        if i == 3:
            args.append(n_hosts)
        args += [_buf("double[]", arr), arr.size]
    status = lib.fc_place_factors(*args, _buf("float[]", out, writable=True), out.size, err)
    _check_place(status, err, "placement_factors")


def _placement_factors_flat(params: PlacementParams, n_hosts: int,
                            arrays: tuple[ArrayLike, ...]) -> NDArray[np.float32]:
    """The seven input arrays as flat float64 of any length, n_hosts given: for golden
    vectors and tests of the core's own length checks. Returns (n_hosts, F) float32."""
    flat = tuple(np.ascontiguousarray(np.ravel(np.asarray(a, dtype=np.float64)))
                 for a in arrays)
    if len(flat) != 7:
        raise LengthError("placement_factors: expected 7 input arrays")
    out = np.empty((n_hosts, len(PLACEMENT_FACTORS)), np.float32)
    _place_call(params.to_c(), n_hosts, flat, out)
    return out


# ---- drift statistics (docs/drift.md) -------------------------------------------------

#: FC_DRIFT_VERSION: numbers the bin rule, quantile rule, ln approximation and sum orders.
DRIFT_VERSION: int = lib.FC_DRIFT_VERSION
#: Most bins a reference distribution may have.
DRIFT_MAX_BINS: int = lib.FC_DRIFT_MAX_BINS
#: Default bin count of :func:`quantile_edges` (deciles).
DRIFT_DEFAULT_BINS: int = lib.FC_DRIFT_DEFAULT_BINS
#: Default proportion floor of :func:`psi`.
DRIFT_DEFAULT_EPSILON: float = float(lib.FC_DRIFT_DEFAULT_EPSILON)
#: Smallest floor :func:`psi` accepts.
DRIFT_MIN_EPSILON: float = float(lib.FC_DRIFT_MIN_EPSILON)

# fc_error.channel of a drift call names the array at fault (FC_DRIFT_ARG_*).
_DRIFT_ARRAYS: dict[int, str] = {
    lib.FC_DRIFT_ARG_VALUES: "values",
    lib.FC_DRIFT_ARG_EDGES: "edges",
    lib.FC_DRIFT_ARG_REF: "ref_counts",
    lib.FC_DRIFT_ARG_LIVE: "live_counts",
}


def _check_drift(status: int, err, op: str) -> None:  # noqa: ANN001 - cdata
    """Raises the exception of a drift status: index is the element, channel the array
    ("edges"); drift calls never set feature."""
    _raise_status(status, err, op, "element",
                  ("array", lambda c: _DRIFT_ARRAYS.get(c, str(c))),
                  ("feature", str))


def _drift_array(op: str, name: str, value: ArrayLike) -> NDArray[np.float64]:
    """A 1-d contiguous float64 array (no copy when it already is one)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise LengthError(f"{op}: {name} must be a 1-d array, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def drift_ln(x: ArrayLike) -> NDArray[np.float64]:
    """Natural logarithm of every element by the core's fixed polynomial (fc_drift_ln:
    within 1 ulp of the exact value, the same bits in C, Python and Go; numpy's log is
    not). Elements must be finite and > 0; the first bad one raises its error (0 is
    RangeError) naming its index. Returns an array of x's shape (0-d for a scalar)."""
    arr = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(arr).ravel()
    out = np.empty(flat.size, np.float64)
    cell = ffi.new("double *")
    for i, v in enumerate(flat.tolist()):
        status = lib.fc_drift_ln(v, cell)
        if status != 0:
            err = ffi.new("fc_error *", {"status": status, "index": i,
                                         "channel": lib.FC_DRIFT_ARG_VALUES, "feature": -1})
            _check_drift(status, err, "drift_ln")
        out[i] = cell[0]
    return out.reshape(arr.shape)


def quantile_edges(sample: ArrayLike, n_bins: int = DRIFT_DEFAULT_BINS) -> NDArray[np.float64]:
    """Lower-quantile bin edges of a reference sample (any order): edge k is the sorted
    sample's element floor(k (n - 1) / n_bins), ties collapsed, so at most n_bins + 1
    strictly ascending edges. A sample with one distinct value raises ConstantError."""
    arr = _drift_array("quantile_edges", "sample", sample)
    if not 1 <= int(n_bins) <= DRIFT_MAX_BINS:
        raise BadParamsError(
            f"quantile_edges: n_bins={n_bins} is out of range 1..{DRIFT_MAX_BINS}")
    scratch = np.empty(arr.size, np.float64)
    edges = np.empty(int(n_bins) + 1, np.float64)
    n_edges = ffi.new("size_t *")
    err = ffi.new("fc_error *")
    status = lib.fc_drift_quantile_edges(
        _buf("double[]", arr), arr.size, int(n_bins), _buf("double[]", scratch, writable=True),
        scratch.size, _buf("double[]", edges, writable=True), edges.size, n_edges, err)
    _check_drift(status, err, "quantile_edges")
    return edges[: int(n_edges[0])].copy()


def histogram(values: ArrayLike, edges: ArrayLike) -> NDArray[np.float64]:
    """Counts (float64) of values in the len(edges) - 1 bins: bin j holds e[j] <= x <
    e[j+1], the first bin also everything below, the last everything from e[-2] up. A NaN
    value raises MissingValueError (drop missing samples first)."""
    vals = _drift_array("histogram", "values", values)
    edg = _drift_array("histogram", "edges", edges)
    counts = np.empty(max(edg.size - 1, 0), np.float64)
    err = ffi.new("fc_error *")
    status = lib.fc_drift_histogram(
        _buf("double[]", vals), vals.size, _buf("double[]", edg), edg.size,
        _buf("double[]", counts, writable=True) if counts.size else ffi.new("double[1]"),
        counts.size, err)
    _check_drift(status, err, "histogram")
    return counts


def _count_pair(op: str, ref_counts: ArrayLike, live_counts: ArrayLike):  # noqa: ANN202
    ref = _drift_array(op, "ref_counts", ref_counts)
    live = _drift_array(op, "live_counts", live_counts)
    if ref.size != live.size:
        raise LengthError(
            f"{op}: ref_counts has {ref.size} bins, live_counts {live.size}; both must come "
            "from the same edges")
    return ref, live


def psi(ref_counts: ArrayLike, live_counts: ArrayLike,
        epsilon: float = DRIFT_DEFAULT_EPSILON) -> float:
    """Population Stability Index of live against reference bin counts: sum (q - p)
    ln(q / p) over proportions floored at epsilon (DRIFT_MIN_EPSILON <= epsilon < 1)."""
    ref, live = _count_pair("psi", ref_counts, live_counts)
    out = ffi.new("double *")
    err = ffi.new("fc_error *")
    status = lib.fc_drift_psi(_buf("double[]", ref), _buf("double[]", live), ref.size,
                              float(epsilon), out, err)
    _check_drift(status, err, "psi")
    return float(out[0])


def ks(ref_counts: ArrayLike, live_counts: ArrayLike) -> float:
    """Binned Kolmogorov-Smirnov distance: the largest gap between the two cumulative
    proportions at the interior bin edges (<= the exact two-sample KS of the samples)."""
    ref, live = _count_pair("ks", ref_counts, live_counts)
    out = ffi.new("double *")
    err = ffi.new("fc_error *")
    status = lib.fc_drift_ks(_buf("double[]", ref), _buf("double[]", live), ref.size, out, err)
    _check_drift(status, err, "ks")
    return float(out[0])


# ---- task partitioning (docs/partition.md) -------------------------------------------------

PARTITION_VERSION: int = int(lib.FC_PARTITION_VERSION)
PARTITION_MAX_STREAMS: int = int(lib.FC_PARTITION_MAX_STREAMS)
PARTITION_MAX_BYTES: int = int(lib.FC_PARTITION_MAX_BYTES)
PARTITION_DEFAULT_FEC_OVERHEAD: float = float(lib.FC_PARTITION_DEFAULT_FEC_OVERHEAD)
PARTITION_MAX_FEC_OVERHEAD: float = float(lib.FC_PARTITION_MAX_FEC_OVERHEAD)

# fc_error.channel of a partition call (FC_PARTITION_ARG_*), named as the arguments here.
_PARTITION_ARGS: dict[int, str] = {
    lib.FC_PARTITION_ARG_FORECAST: "forecast_mbps",
    lib.FC_PARTITION_ARG_MIN_BANDWIDTH: "min_bandwidth_mbps",
    lib.FC_PARTITION_ARG_SIZE: "size_bytes",
    lib.FC_PARTITION_ARG_REQUIRES_FEC: "requires_fec",
    lib.FC_PARTITION_ARG_PARAMS: "params",
    lib.FC_PARTITION_ARG_CHUNKS: "chunks",
    lib.FC_PARTITION_ARG_USED: "used",
    lib.FC_PARTITION_ARG_EXPECTED: "expected_seconds",
}


@dataclass(frozen=True)
class PartitionParams:
    """fc_partition_params: the FEC overhead a task with requires_fec pays (extra wire bytes
    per payload byte, 0 .. PARTITION_MAX_FEC_OVERHEAD) and the most streams one call takes."""

    fec_overhead: float = PARTITION_DEFAULT_FEC_OVERHEAD
    max_streams: int = PARTITION_MAX_STREAMS

    def _c(self):  # noqa: ANN202 - cdata
        p = ffi.new("fc_partition_params *")
        lib.fc_partition_params_init(p)
        p.fec_overhead = float(self.fec_overhead)
        if not 0 <= int(self.max_streams) <= 0xFFFFFFFF:
            raise BadParamsError(f"partition: max_streams {self.max_streams} out of range")
        p.max_streams = int(self.max_streams)
        return p


@dataclass(frozen=True)
class Partition:
    """The chunks of one task: bytes per stream (0 for an unusable one), which streams were
    usable, and the common finish time in seconds if every forecast held."""

    chunks: NDArray[np.uint64]
    used: NDArray[np.bool_]
    expected_seconds: float


def _check_partition(status: int, err, op: str) -> None:  # noqa: ANN001 - cdata
    _raise_status(status, err, op, "stream",
                  ("argument", lambda c: _PARTITION_ARGS.get(c, str(c))),
                  ("feature", str))


def partition_chunks(forecast_mbps: ArrayLike, size_bytes: int, *,
                     min_bandwidth_mbps: float = 0.0, requires_fec: bool = False,
                     params: PartitionParams | None = None) -> Partition:
    """Cuts a task of size_bytes into one chunk per stream in proportion to the streams'
    forecast bandwidths (Mbit/s) so that all would finish together (fc_partition_chunks):
    streams below min_bandwidth_mbps (or at 0) get nothing, the bytes the floors leave go to
    the largest fractional quotas (ties to the lower index), and the chunks sum to
    size_bytes exactly."""
    bw = _drift_array("partition", "forecast_mbps", forecast_mbps)
    size = int(size_bytes)
    if not 0 <= size <= 0xFFFFFFFFFFFFFFFF:
        raise RangeError(f"partition: size_bytes {size} does not fit uint64")
    n = bw.size
    chunks = np.zeros(n, np.uint64)
    used = np.zeros(n, np.uint8)
    secs = ffi.new("double *")
    err = ffi.new("fc_error *")
    p = (params or PartitionParams())._c()
    status = lib.fc_partition_chunks(
        p, _buf("double[]", bw), n, float(min_bandwidth_mbps), size, 1 if requires_fec else 0,
        _buf("uint64_t[]", chunks, writable=True), n, _buf("uint8_t[]", used, writable=True), n,
        secs, err)
    _check_partition(status, err, "partition")
    return Partition(chunks=chunks, used=used.astype(bool), expected_seconds=float(secs[0]))


# ---- tree ensembles (fc_trees_*, docs/feature-core.md "Tree ensembles") -----------------

TREES_VERSION: int = lib.FC_TREES_VERSION
# Kernels of fc_trees_score by name; every one gives the same bits.
TREES_KERNELS: dict[str, int] = {
    "auto": lib.FC_TREES_KERNEL_AUTO,
    "branchy": lib.FC_TREES_KERNEL_BRANCHY,
    "interleaved": lib.FC_TREES_KERNEL_INTERLEAVED,
}
_TREE_MODES: dict[str, int] = {
    "BRANCH_LEQ": lib.FC_TREE_BRANCH_LEQ, "BRANCH_LT": lib.FC_TREE_BRANCH_LT,
    "BRANCH_GTE": lib.FC_TREE_BRANCH_GTE, "BRANCH_GT": lib.FC_TREE_BRANCH_GT,
    "BRANCH_EQ": lib.FC_TREE_BRANCH_EQ, "BRANCH_NEQ": lib.FC_TREE_BRANCH_NEQ,
    "BRANCH_MEMBER": lib.FC_TREE_BRANCH_MEMBER, "LEAF": lib.FC_TREE_LEAF,
}
_TREE_AGGREGATES: dict[str, int] = {
    "SUM": lib.FC_TREES_SUM, "AVERAGE": lib.FC_TREES_AVERAGE, "MIN": lib.FC_TREES_MIN,
    "MAX": lib.FC_TREES_MAX,
}
_TREE_POSTS: dict[str, int] = {
    "NONE": lib.FC_TREES_NONE, "SOFTMAX": lib.FC_TREES_SOFTMAX,
    "LOGISTIC": lib.FC_TREES_LOGISTIC, "SOFTMAX_ZERO": lib.FC_TREES_SOFTMAX_ZERO,
    "PROBIT": lib.FC_TREES_PROBIT,
}
_TREES_ARGS: dict[int, str] = {
    lib.FC_TREES_ARG_NODES: "nodes", lib.FC_TREES_ARG_WEIGHTS: "target weights",
    lib.FC_TREES_ARG_BASE: "base_values", lib.FC_TREES_ARG_MODEL: "model attributes",
    lib.FC_TREES_ARG_BUFFER: "buffer", lib.FC_TREES_ARG_ROWS: "rows",
    lib.FC_TREES_ARG_OUT: "out",
}


def tree_mode(name: str) -> int:
    """fc_tree_mode of an ONNX nodes_modes string (FC_TREE_MODE_OTHER when unknown)."""
    return _TREE_MODES.get(name, lib.FC_TREE_MODE_OTHER)


def _text(value: object, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(value: object) -> NDArray[np.int64]:
    return np.ascontiguousarray(np.asarray(value if value is not None else [], np.int64))


def _floats(value: object) -> NDArray[np.float32]:
    return np.ascontiguousarray(np.asarray(value if value is not None else [], np.float32))


@dataclass(frozen=True)
class TreeEnsembleAttributes:
    """The attributes of an ONNX TreeEnsembleRegressor that fc_trees_init reads, as arrays
    (modes as fc_tree_mode numbers, aggregate and post_transform as their numbers)."""

    nodes_treeids: NDArray[np.int64]
    nodes_nodeids: NDArray[np.int64]
    nodes_featureids: NDArray[np.int64]
    nodes_modes: NDArray[np.int32]
    nodes_values: NDArray[np.float32]
    nodes_truenodeids: NDArray[np.int64]
    nodes_falsenodeids: NDArray[np.int64]
    nodes_missing_value_tracks_true: NDArray[np.int64] | None
    target_treeids: NDArray[np.int64]
    target_nodeids: NDArray[np.int64]
    target_ids: NDArray[np.int64]
    target_weights: NDArray[np.float32]
    base_values: NDArray[np.float32]
    n_targets: int = 1
    aggregate: int = lib.FC_TREES_SUM
    post_transform: int = lib.FC_TREES_NONE

    @classmethod
    def from_attributes(cls, attrs: dict[str, object]) -> TreeEnsembleAttributes:
        """From a name -> value mapping of the node's attributes (``onnx.helper.
        get_attribute_value`` of each): ONNX's strings become the core's numbers, defaults
        are ONNX's (aggregate SUM, post_transform NONE, n_targets 1, no base values)."""
        for name in ("nodes_values_as_tensor", "target_weights_as_tensor",
                     "base_values_as_tensor"):
            if attrs.get(name) is not None:
                raise TreeUnsupportedError(f"trees: attribute {name} (double thresholds or "
                                           "weights) is not evaluated by the core")
        mt = attrs.get("nodes_missing_value_tracks_true")
        return cls(
            nodes_treeids=_ints(attrs.get("nodes_treeids")),
            nodes_nodeids=_ints(attrs.get("nodes_nodeids")),
            nodes_featureids=_ints(attrs.get("nodes_featureids")),
            nodes_modes=np.ascontiguousarray(np.array(
                [tree_mode(_text(m, "")) for m in attrs.get("nodes_modes") or []], np.int32)),
            nodes_values=_floats(attrs.get("nodes_values")),
            nodes_truenodeids=_ints(attrs.get("nodes_truenodeids")),
            nodes_falsenodeids=_ints(attrs.get("nodes_falsenodeids")),
            nodes_missing_value_tracks_true=None if mt is None or len(mt) == 0 else _ints(mt),
            target_treeids=_ints(attrs.get("target_treeids")),
            target_nodeids=_ints(attrs.get("target_nodeids")),
            target_ids=_ints(attrs.get("target_ids")),
            target_weights=_floats(attrs.get("target_weights")),
            base_values=_floats(attrs.get("base_values")),
            n_targets=int(attrs.get("n_targets", 1) or 1),  # type: ignore[call-overload]
            aggregate=_TREE_AGGREGATES.get(_text(attrs.get("aggregate_function"), "SUM"),
                                           lib.FC_TREES_AGGREGATE_OTHER),
            post_transform=_TREE_POSTS.get(_text(attrs.get("post_transform"), "NONE"),
                                           lib.FC_TREES_POST_OTHER),
        )

    @classmethod
    def from_onnx(cls, model: object) -> TreeEnsembleAttributes:
        """From the one TreeEnsembleRegressor of an ONNX model (an ``onnx.ModelProto``, or
        the bytes or path of one) whose other nodes are only Identity, so the ensemble is the
        whole model (else TreeUnsupportedError)."""
        import onnx  # only this constructor needs it
        from onnx import helper

        if isinstance(model, (bytes, bytearray)):
            proto = onnx.load_from_string(bytes(model))
        elif isinstance(model, onnx.ModelProto):
            proto = model
        else:
            proto = onnx.load(str(model))
        nodes = [n for n in proto.graph.node if n.op_type == "TreeEnsembleRegressor"]
        if len(nodes) != 1:
            raise TreeUnsupportedError(
                f"trees: the model has {len(nodes)} TreeEnsembleRegressor nodes, not 1")
        others = sorted({n.op_type for n in proto.graph.node} - {"TreeEnsembleRegressor",
                                                                  "Identity"})
        if others:  # the ensemble would not be the whole model
            raise TreeUnsupportedError(f"trees: the model also has {', '.join(others)} nodes")
        return cls.from_attributes(
            {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute})


def _check_trees(status: int, err, op: str) -> None:  # noqa: ANN001 - cdata
    _raise_status(status, err, op, "element",
                  ("in", lambda c: _TREES_ARGS.get(c, str(c))), ("feature", str))


class Trees:
    """A TreeEnsembleRegressor built by the core (fc_trees_init into a buffer this object
    owns), scoring float32 rows with ONNX Runtime's bits (fc_trees_score). Immutable after
    construction, so one instance may score from several threads."""

    def __init__(self, attrs: TreeEnsembleAttributes) -> None:
        a = attrs
        n = a.nodes_treeids.size
        for name in ("nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                     "nodes_truenodeids", "nodes_falsenodeids"):
            if getattr(a, name).size != n:
                raise LengthError(f"trees: {name} has {getattr(a, name).size} entries, "
                                  f"nodes_treeids {n}")
        mt = a.nodes_missing_value_tracks_true
        if mt is not None and mt.size != n:
            raise LengthError(f"trees: nodes_missing_value_tracks_true has {mt.size} entries, "
                              f"nodes_treeids {n}")
        w = a.target_treeids.size
        for name in ("target_nodeids", "target_ids", "target_weights"):
            if getattr(a, name).size != w:
                raise LengthError(f"trees: {name} has {getattr(a, name).size} entries, "
                                  f"target_treeids {w}")
        size = ffi.new("size_t *")
        _check_trees(lib.fc_trees_size(n, size), None, "trees")
        # 8-aligned: a uint64 array's memory (numpy aligns at least to the item size).
        self._buf = np.zeros((int(size[0]) + 7) // 8, np.uint64)
        self._attrs = a  # the arrays stay alive while the object does
        out = ffi.new("fc_trees **")
        err = ffi.new("fc_error *")
        status = lib.fc_trees_init(
            n, _buf("int64_t[]", a.nodes_treeids), _buf("int64_t[]", a.nodes_nodeids),
            _buf("int64_t[]", a.nodes_featureids), _buf("int32_t[]", a.nodes_modes),
            _buf("float[]", a.nodes_values), _buf("int64_t[]", a.nodes_truenodeids),
            _buf("int64_t[]", a.nodes_falsenodeids),
            ffi.NULL if mt is None else _buf("int64_t[]", mt),
            w, _buf("int64_t[]", a.target_treeids), _buf("int64_t[]", a.target_nodeids),
            _buf("int64_t[]", a.target_ids), _buf("float[]", a.target_weights),
            _buf("float[]", a.base_values), a.base_values.size,
            int(a.n_targets), int(a.aggregate), int(a.post_transform),
            ffi.from_buffer(self._buf, require_writable=True), self._buf.nbytes, out, err)
        _check_trees(status, err, "trees")
        self._trees = out[0]
        counts = ffi.new("size_t[3]")
        lib.fc_trees_info(self._trees, counts, counts + 1, counts + 2)
        self.n_trees, self.n_nodes, self.n_cols = int(counts[0]), int(counts[1]), int(counts[2])

    @classmethod
    def from_onnx(cls, model: object) -> Trees:
        """The ensemble of an ONNX model's TreeEnsembleRegressor (ModelProto, bytes or
        path)."""
        return cls(TreeEnsembleAttributes.from_onnx(model))

    def score(self, rows: ArrayLike, kernel: str = "auto") -> NDArray[np.float32]:
        """Scores of rows (n, k) float32, k >= n_cols: one float32 per row, the bits ONNX
        Runtime's TreeEnsembleRegressor gives (shape (n,))."""
        x = np.asarray(rows, dtype=np.float32)
        if x.ndim != 2:
            raise LengthError(f"trees: rows must be 2-d (rows, columns), got shape {x.shape}")
        if kernel not in TREES_KERNELS:
            raise BadParamsError(f"trees: kernel {kernel!r}, not one of {sorted(TREES_KERNELS)}")
        x = np.ascontiguousarray(x)
        out = np.empty(x.shape[0], np.float32)
        err = ffi.new("fc_error *")
        status = lib.fc_trees_score(self._trees, _buf("float[]", x), x.shape[0], x.shape[1],
                                    TREES_KERNELS[kernel], _buf("float[]", out, writable=True),
                                    out.size, err)
        _check_trees(status, err, "trees score")
        return out
