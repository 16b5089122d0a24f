"""Selections: the text form, refusals, and loading exactly what was named."""

from __future__ import annotations

import pytest

from dwcp_ml.training import data, selection
from dwcp_ml.training.selection import Selection, SelectionError


@pytest.mark.parametrize("text, want", [
    ("synthetic", Selection("synthetic")),
    ("nab", Selection("nab")),
    ("bitbrains:months=2013-7,2013-8:vms=first:30",
     Selection("bitbrains", ("2013-7", "2013-8"), take=("first", 30))),
    ("bitbrains:months=2013-8:vms=4,5:from=2013-08-10:to=2013-08-20",
     Selection("bitbrains", ("2013-8",), 1376092800, 1376956800, ("4", "5"))),
    ("nab:series=a/b.csv,c/d.csv", Selection("nab", names=("a/b.csv", "c/d.csv"))),
])
def test_parse(text: str, want: Selection) -> None:
    assert selection.parse(text) == want


@pytest.mark.parametrize("text, error", [
    ("kaggle", "unknown source 'kaggle'"),
    ("bitbrains", "bitbrains needs months="),
    ("bitbrains:months=2013-07", "not a month"),
    ("bitbrains:months=2013-7:vms=x", "expected ids 4,5,10 or first:N"),
    ("bitbrains:months=2013-7:from=2013-02-30", "not a calendar date"),
    ("bitbrains:months=2013-7:from=2013-07-10:to=2013-07-01", "to= must be after from="),
    ("nab:vms=4", "nab takes series, from, to, not vms="),
    ("synthetic:months=2013-7", "synthetic takes no options"),
    ("nab:series", "is not key=value"),
])
def test_parse_refuses(text: str, error: str) -> None:
    with pytest.raises(SelectionError, match=error):
        selection.parse(text)


def test_bitbrains_months_join_per_vm() -> None:
    root = data.data_dir()
    sel = selection.parse("bitbrains:months=2013-7,2013-8:vms=first:2:from=2013-07-20")
    traces = sel.load_bitbrains(root, data.load_bitbrains_cpu_mhz)
    assert len(traces) == 2
    for t in traces:
        assert "/2013-7+2013-8/" in t.name
        assert t.ts.min() >= sel.start and t.ts.max() > 1375315200  # reaches into August
    with pytest.raises(SelectionError, match="cannot take the last 1000"):
        selection.parse("bitbrains:months=2013-7:vms=last:1000").vm_ids(root)
    with pytest.raises(SelectionError, match="VMs 3 are not in every month"):
        selection.parse("bitbrains:months=2013-7:vms=3").vm_ids(root)
