"""Draw the chart of a ``make bench`` run: ``bench/chart.py RESULTS.json -o chart.svg``.

Reads the JSON that ``bench/run.py`` writes beside its Markdown report
(``bench/results/latest.json``, schema 1: ``{"date", "machine", "command",
"scenarios": [{"name", "title", "unit", "rows": [{"group", "label", "reference",
"rate", "ratio", "failure", ...}]}]}``) and draws one panel per scenario: a horizontal
bar per server or framework, grouped by case, the asgi_magic row highlighted, with the
median rate printed on each bar. Failed or skipped rows are listed, not drawn. A panel
whose top bars dwarf the rest (the pipelined floor's 2.1 M req/s beside 60 k) gets a
broken axis: those bars stop at the clip, hatched, with their true value written.

The SVG is deterministic (no date, fixed ids), so a committed chart only changes
when the figures do. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REF_COLOUR = "#3f51b5"
PEER_COLOUR = "#9e9e9e"


def load(path: Path) -> dict[str, Any]:
    """The results document; ``ValueError`` if it is not schema 1."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if document.get("schema") != 1 or not isinstance(document.get("scenarios"), list):
        raise ValueError(f"{path}: not a bench/run.py results file (schema 1)")
    return document


# A bar is clipped when it is more than CLIP_GAP times the next bar down, and only bars
# in the top quarter of a panel are candidates: a gap at the bottom (a slow server) is
# information, a gap at the top is one outlier squashing every other bar.
CLIP_GAP = 4.0
MARGIN = 1.18  # x-axis room past the longest bar, for its printed value


def clip_limit(rates: list[float]) -> float | None:
    """Where to break the x-axis of a panel with these bar ``rates``, or None.

    Sorted from the top, the first gap where one rate is more than ``CLIP_GAP`` times
    the next, within the top quarter of the bars, clips every bar above it: the axis
    ends at ``MARGIN`` times the largest unclipped rate.
    """
    ordered = sorted(rates, reverse=True)
    for i in range(max(1, len(ordered) // 4)):
        if i + 1 < len(ordered) and ordered[i + 1] > 0 and ordered[i] > CLIP_GAP * ordered[i + 1]:
            return ordered[i + 1] * MARGIN
    return None


def draw(document: dict[str, Any], output: Path, scenarios: list[str] | None = None) -> None:
    """Write the chart of ``document`` to ``output`` (format from its suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "asgi_magic-bench"  # stable ids in the SVG
    plt.rcParams["font.size"] = 9
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: small, searchable
    chosen = [s for s in document["scenarios"] if scenarios is None or s["name"] in scenarios]
    if not chosen:
        raise ValueError("no scenario to draw")
    heights = [max(1, len(s["rows"])) * 0.32 + 0.9 for s in chosen]
    fig, axes = plt.subplots(
        len(chosen), 1, figsize=(8, sum(heights)), gridspec_kw={"height_ratios": heights}
    )
    axes = [axes] if len(chosen) == 1 else list(axes)
    for ax, scenario in zip(axes, chosen, strict=True):
        drawn = [r for r in scenario["rows"] if r.get("rate") is not None]
        labels = [f"{r['group']} · {r['label']}" for r in drawn]
        rates = [float(r["rate"]) for r in drawn]
        colours = [REF_COLOUR if r.get("reference") else PEER_COLOUR for r in drawn]
        positions = list(range(len(drawn)))[::-1]
        limit = clip_limit(rates)
        shown = rates if limit is None else [min(rate, limit) for rate in rates]
        bars = ax.barh(positions, shown, color=colours, height=0.7)
        ax.set_yticks(positions, labels)
        for y, rate, bar in zip(positions, rates, bars, strict=True):
            if limit is not None and rate > limit:  # a broken bar: hatched, value written
                bar.set_hatch("//")
                bar.set_edgecolor("white")
                ax.text(
                    limit, y, f"{rate:,.0f} (bar clipped) → ", va="center", ha="right",
                    fontsize=8, bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
                )  # fmt: skip
            else:
                ax.text(rate, y, f" {rate:,.0f}", va="center", fontsize=8)
        ax.set_xlim(0, limit if limit is not None else max(rates, default=1) * MARGIN)
        ax.set_title(
            f"{scenario['name']}: {scenario['unit']} (median, higher is better)", loc="left"
        )
        ax.spines[["top", "right"]].set_visible(False)
        missing = [r for r in scenario["rows"] if r.get("rate") is None]
        if missing:
            text = "; ".join(f"{r['label']}: {r.get('failure') or 'no result'}" for r in missing)
            ax.set_xlabel(text, fontsize=7)
    fig.suptitle(f"asgi_magic bench — {document['date']}", x=0.01, ha="left")
    fig.text(0.01, 0.005, document.get("machine", ""), fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, metadata={"Date": None} if output.suffix == ".svg" else None)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw a bench/run.py results JSON file.")
    parser.add_argument("results", type=Path, help="e.g. bench/results/latest.json")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("docs/benchmarks/chart.svg"),
        help="image to write (.svg or .png; default docs/benchmarks/chart.svg)",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", action="append", metavar="NAME", help="draw only this scenario (repeatable)"
    )
    args = parser.parse_args(argv)
    try:
        document = load(args.results)
        draw(document, args.output, args.scenario)
    except (OSError, ValueError) as exc:
        print(f"chart: {exc}", file=sys.stderr)
        return 1
    print(f"chart: written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
