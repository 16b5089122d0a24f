"""What to train on and what to test on, as data: a :class:`Selection` names a source, months,
a date range and entities (VM ids or NAB series), loads exactly that, and describes itself
for the report. Nothing in an evaluation names a month; it is given one.

Text form (``dwcp-ml eval --train ... --test ...``), parts separated by ``:``::

    bitbrains:months=2013-7,2013-8:vms=first:70      first 70 VM ids of those months
    bitbrains:months=2013-8:vms=4,5,10:from=2013-08-10:to=2013-08-20
    nab:series=realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv,...
    nab                                              every labelled NAB series
    synthetic                                        the embedded synthetic VMs

``vms=first:N`` / ``vms=last:N`` take the first / last N ids (sorted) that every month given
holds. A VM present in several months is one trace, its months concatenated in time order,
so rolling-origin folds (``cv.rolling_origin``) run across month boundaries.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data
from .data import Trace, TraceFormatError

KINDS = ("bitbrains", "nab", "synthetic")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TAKE = re.compile(r"(first|last)(\d+)")


class SelectionError(ValueError):
    """A selection that cannot be parsed or does not match the data present."""


@dataclass(frozen=True)
class Selection:
    """Data to load: ``kind`` in :data:`KINDS`; months (Bitbrains); ``[start, end)`` in Unix
    seconds (None = open); ``names``: VM ids as text or NAB series paths (empty = all);
    ``take``: ("first" | "last", N) over the VM ids."""

    kind: str
    months: tuple[str, ...] = ()
    start: int | None = None
    end: int | None = None
    names: tuple[str, ...] = ()
    take: tuple[str, int] | None = None

    def describe(self) -> str:
        parts = [self.kind]
        if self.months:
            parts.append("months " + ", ".join(self.months))
        if self.take:
            parts.append(f"{self.take[0]} {self.take[1]} VMs")
        elif self.names:
            shown = ", ".join(self.names[:8]) + (", ..." if len(self.names) > 8 else "")
            parts.append(f"{len(self.names)} {'series' if self.kind == 'nab' else 'VMs'}: {shown}")
        if self.start is not None or self.end is not None:
            parts.append(f"from {_fmt(self.start)} to {_fmt(self.end)}")
        return "; ".join(parts)

    def vm_ids(self, root: Path) -> list[int]:
        """The VM ids selected that every selected month holds."""
        if self.kind != "bitbrains" or not self.months:
            raise SelectionError(f"{self.describe()}: VM ids need bitbrains with months=")
        common = set.intersection(*(set(data.bitbrains_vms(m, root)) for m in self.months))
        ids = sorted(common)
        if self.names:
            wanted = [int(n) for n in self.names]
            missing = [str(v) for v in wanted if v not in common]
            if missing:
                raise SelectionError(f"VMs {', '.join(missing)} are not in every month of "
                                     f"{', '.join(self.months)}")
            ids = wanted
        if self.take:
            side, n = self.take
            if not 1 <= n <= len(ids):
                raise SelectionError(f"cannot take the {side} {n} of {len(ids)} VMs present "
                                     f"in {', '.join(self.months)}")
            ids = ids[:n] if side == "first" else ids[-n:]
        return ids

    def load_bitbrains(self, root: Path,
                       loader: Callable[[str, int, Path], Trace]) -> list[Trace]:
        """One trace per VM (``loader`` per month, concatenated), cut to the date range."""
        out = []
        for vm in self.vm_ids(root):
            months = sorted(self.months, key=_month_key)
            parts = [loader(m, vm, root) for m in months]
            # bitbrains/2013-7+2013-8/4: the name says which months were joined
            name = parts[0].name.replace(f"/{months[0]}/", "/" + "+".join(months) + "/", 1)
            trace = Trace(name, np.concatenate([p.ts for p in parts]),
                          np.concatenate([p.values for p in parts]))
            out.append(self._cut(trace))
        return [t for t in out if len(t.ts)]

    def nab_series(self, root: Path) -> list[str]:
        """The NAB series paths selected (relative to ``root/nab``)."""
        base = root / "nab"
        present = sorted(p.relative_to(base).as_posix() for p in base.glob("real*/*.csv"))
        if not self.names:
            if not present:
                raise SelectionError(f"no NAB series (real*/*.csv) under {base}")
            return present
        missing = [n for n in self.names if n not in present]
        if missing:
            raise SelectionError(f"NAB series not under {base}: {', '.join(missing)}")
        return list(self.names)

    def load_nab(self, root: Path) -> list[Trace]:
        return [t for t in (self._cut(data.load_nab(n, root)) for n in self.nab_series(root))
                if len(t.ts)]

    def _cut(self, trace: Trace) -> Trace:
        keep = np.ones(len(trace.ts), dtype=bool)
        if self.start is not None:
            keep &= trace.ts >= self.start
        if self.end is not None:
            keep &= trace.ts < self.end
        return Trace(trace.name, trace.ts[keep], trace.values[keep])


def _month_key(month: str) -> tuple[int, int]:
    year, m = month.split("-")
    return int(year), int(m)


def _fmt(ts: int | None) -> str:
    return "..." if ts is None else str(np.datetime64(ts, "s"))[:10]


def _date(text: str, what: str) -> int:
    """UTC midnight of YYYY-MM-DD as Unix seconds."""
    match = _DATE.fullmatch(text)
    if not match:
        raise SelectionError(f"{what}={text!r}: expected a date YYYY-MM-DD (UTC midnight)")
    y, m, d = map(int, match.groups())
    if not (1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]):
        raise SelectionError(f"{what}={text!r}: not a calendar date")
    return calendar.timegm((y, m, d, 0, 0, 0))


def parse(text: str) -> Selection:
    """A :class:`Selection` from its text form (module docstring)."""
    kind, *rest = text.split(":")
    if kind not in KINDS:
        raise SelectionError(f"{text!r}: unknown source {kind!r}; expected one of "
                             f"{', '.join(KINDS)}")
    fields: dict[str, object] = {"kind": kind}
    parts = iter(rest)
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise SelectionError(f"{text!r}: {part!r} is not key=value")
        if key == "vms" and value in ("first", "last"):
            value += next(parts, "")
        _field(text, kind, key, value, fields)
    sel = Selection(**fields)  # type: ignore[arg-type]
    if sel.kind == "bitbrains" and not sel.months:
        raise SelectionError(f"{text!r}: bitbrains needs months=YYYY-M[,...]")
    if sel.start is not None and sel.end is not None and sel.end <= sel.start:
        raise SelectionError(f"{text!r}: to= must be after from=")
    return sel


def _field(text: str, kind: str, key: str, value: str, fields: dict[str, object]) -> None:
    allowed = {"bitbrains": ("months", "vms", "from", "to"), "nab": ("series", "from", "to"),
               "synthetic": ()}[kind]
    if key not in allowed:
        raise SelectionError(f"{text!r}: {kind} takes {', '.join(allowed) or 'no options'}, "
                             f"not {key}=")
    if key == "months":
        try:
            fields["months"] = tuple(data.check_month(m) for m in value.split(","))
        except TraceFormatError as exc:
            raise SelectionError(str(exc)) from None
    elif key == "vms":
        take = _TAKE.fullmatch(value)
        if take:
            fields["take"] = (take.group(1), int(take.group(2)))
        elif all(v.isdigit() for v in value.split(",")):
            fields["names"] = tuple(str(int(v)) for v in value.split(","))
        else:
            raise SelectionError(f"{text!r}: vms={value!r}: expected ids 4,5,10 or first:N "
                                 "or last:N")
    elif key == "series":
        fields["names"] = tuple(value.split(","))
    else:
        fields["start" if key == "from" else "end"] = _date(value, key)

