"""bench/run.py's JSON results and bench/chart.py, which draws them for the docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import chart, run

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "docs" / "benchmarks" / "2026-11-24.json"


def _rows() -> list[run.RowResult]:
    ref = run.RowResult("asgi_magic", "hello", reference=True)
    ref.runs = [run.Measurement(100.0, None, 1.0), run.Measurement(120.0, None, 2.0)]
    peer = run.RowResult("uvicorn", "hello")
    peer.runs = [run.Measurement(50.0, None, 3.0), run.Measurement(60.0, None, 4.0)]
    gone = run.RowResult("granian", "hello", failure="skipped: granian is not installed")
    return [ref, peer, gone]


def test_results_json_holds_medians_ratios_runs_and_failures() -> None:
    scenario = run.scenario_json("hello", "hello world", "req/s", _rows())
    document = json.loads(
        run.results_json("2026-11-30 10:00 UTC", "2 CPUs", "bench/run.py", [scenario])
    )
    assert document["schema"] == 1 and document["date"] == "2026-11-30 10:00 UTC"
    ref, peer, gone = document["scenarios"][0]["rows"]
    assert ref["rate"] == 110.0 and ref["ratio"] == 1.0 and ref["runs"] == [100.0, 120.0]
    assert peer["rate"] == 55.0 and peer["ratio"] == 2.0 and peer["p99_ms"] == 3.5
    assert gone["rate"] is None and gone["ratio"] is None and gone["failure"].startswith("skipped")


def test_chart_draws_a_results_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    scenario = run.scenario_json("hello", "hello world", "req/s", _rows())
    results = tmp_path / "latest.json"
    results.write_text(run.results_json("2026-11-30", "2 CPUs", "bench/run.py", [scenario]))
    out = tmp_path / "chart.svg"
    assert chart.main([str(results), "-o", str(out)]) == 0
    svg = out.read_text()
    assert "asgi_magic" in svg and "uvicorn" in svg and "granian: skipped" in svg
    again = tmp_path / "again.svg"
    chart.main([str(results), "-o", str(again)])
    assert again.read_text() == svg  # deterministic: a committed chart changes with its data


def test_the_committed_chart_comes_from_the_committed_snapshot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    document = chart.load(SNAPSHOT)
    assert [s["name"] for s in document["scenarios"]] == [
        "hello", "framework", "websocket", "static", "upload",
    ]  # fmt: skip
    out = tmp_path / "chart.svg"
    chart.draw(document, out)
    for row in document["scenarios"][0]["rows"]:
        assert row["label"] in out.read_text()
    assert (ROOT / "docs" / "benchmarks" / "chart.svg").exists()


def test_chart_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    assert chart.main([str(bad), "-o", str(tmp_path / "x.svg")]) == 1
    assert chart.main([str(tmp_path / "missing.json")]) == 1


def test_clip_limit_breaks_the_axis_only_for_an_outlier_at_the_top() -> None:
    # The 2026-11-30 hello panel: the pipelined floor (2.1 M req/s) beside ~200 k.
    hello = [2_147_701.0, 197_754.0, 198_141.0, 57_871.0, 51_619.0, 5_026.0, 4_998.0, 3_588.0]
    assert chart.clip_limit(hello) == pytest.approx(198_141.0 * chart.MARGIN)
    # A slow server at the bottom is information, not an outlier: nothing is clipped.
    assert chart.clip_limit([112_459.0, 87_310.0, 35_395.0, 5_538.0]) is None
    assert chart.clip_limit([]) is None and chart.clip_limit([5.0]) is None


def test_chart_writes_the_clipped_bars_true_value(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = _rows()[:2]
    floor = run.RowResult("raw uvloop floor", "hello")
    floor.runs = [run.Measurement(2_147_701.0, None, 1.0)]
    scenario = run.scenario_json("hello", "hello world", "req/s", [*rows, floor])
    results = tmp_path / "latest.json"
    results.write_text(run.results_json("2026-11-30", "2 CPUs", "bench/run.py", [scenario]))
    out = tmp_path / "chart.svg"
    assert chart.main([str(results), "-o", str(out)]) == 0
    svg = out.read_text()
    assert "2,147,701 (bar clipped)" in svg
    # The axis ends near the largest unclipped bar (110 req/s), not at 2.1 M.
    assert "2,000,000" not in svg and "1e6" not in svg
