"""The run's picture, ``timeline.png``, over the seconds since the demo started: the stages; the moments that
matter (each model registration, the alert, each rollback), marked on every panel; the share of requests each
deployment served, with the live traffic as it was set; and each drift job twice, the window of data it compared
and the time it ran, with its share of drifted features. Labels are placed in lanes (:mod:`demo.label_lanes`),
so none covers another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from demo.label_lanes import Label, place_labels
from demo.recorder import Recorder
from demo.text_width import shorten
from demo.traffic import Sent

BIN_SECONDS = 2  # served requests are counted per bin of this many seconds
STAGE_NAME_WIDTH = 40
DPI = 110
MARK_COLORS = {"registered": "tab:green", "alert": "tab:red", "rollback": "tab:orange"}
MARK_LANES = (0.78, 0.5, 0.22)
TRAFFIC_LANES = (0.93, 0.8, 0.67, 0.54)
DRIFT_LANES = (0.88, 0.7, 0.52)


def draw_timeline(path: Path, rec: Recorder, sent: Sent, drift_share: float) -> None:
    """Write ``timeline.png`` (nothing, with a notice, when matplotlib is not installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the demo's record and report do not depend on it
        rec.say("matplotlib is not installed: no timeline.png")
        return
    fig = build_timeline(rec, sent, drift_share)
    try:
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


def timeline_end(rec: Recorder, sent: Sent) -> float:
    """The last second anything recorded happened (the x axis ends there)."""
    ends = [s.ended - rec.t0 for s in rec.stages if s.ended is not None]
    ends += [t for t, _ in sent.served] + [t for t, _ in rec.traffic] + [m["t"] for m in rec.marks]
    ends += [max(p["window"][1], *(p.get("job_run") or [0])) for p in rec.drift]
    return max([1.0, *ends])


def build_timeline(rec: Recorder, sent: Sent, drift_share: float) -> Any:
    """The figure (Agg), laid out and labelled; the caller saves and closes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = timeline_end(rec, sent)
    fig, (ax_s, ax_m, ax_t, ax_d) = plt.subplots(
        4, 1, figsize=(12, 10), dpi=DPI, sharex=True, gridspec_kw={"height_ratios": [3, 0.9, 2, 1.6]}
    )
    _stages(ax_s, rec)
    _traffic_served(ax_t, sent, end)
    _drift_bars(ax_d, rec.drift, drift_share)
    for ax in (ax_s, ax_m, ax_t, ax_d):
        for mark in rec.marks:
            ax.axvline(mark["t"], color=MARK_COLORS.get(mark["kind"], "grey"), lw=0.8, ls="--", alpha=0.7)
    ax_m.set_yticks([])
    ax_m.set_ylim(0, 1)
    ax_m.set_ylabel("events", fontsize=8)
    ax_d.set_xlim(0, end * 1.02)
    fig.tight_layout()
    # the layout is final: the labels are measured against it
    place_labels(
        ax_m, [Label(m["t"], m["label"], MARK_COLORS.get(m["kind"], "black"), "left") for m in rec.marks], MARK_LANES
    )
    place_labels(ax_t, [Label(t, _traffic_text(traffic)) for t, traffic in rec.traffic], TRAFFIC_LANES)
    place_labels(ax_d, _drift_labels(rec.drift, drift_share), DRIFT_LANES)
    return fig


def _stages(ax: Any, rec: Recorder) -> None:
    stages = [s for s in rec.stages if s.ended is not None]
    for i, s in enumerate(stages):
        start = s.started - rec.t0
        ax.barh(i, (s.ended or s.started) - s.started, left=start, color="tab:green" if s.ok else "tab:red")
    names = [f"{shorten(s.name, STAGE_NAME_WIDTH)} ({s.seconds:.0f}s)" for s in stages]
    ax.set_yticks(range(len(stages)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_title("MLOps loop, local mode: stages; dashed: model registered (green), alert (red), rollback (orange)")


def _traffic_served(ax: Any, sent: Sent, end: float) -> None:
    """The share of requests each deployment served per bin, stacked; dotted lines where the traffic was set."""
    bins = max(int(end // BIN_SECONDS) + 1, 1)
    deployments = sorted({d for _, d in sent.served})
    counts = {d: [0] * bins for d in deployments}
    for t, d in sent.served:
        counts[d][min(int(t // BIN_SECONDS), bins - 1)] += 1
    xs = [i * BIN_SECONDS for i in range(bins)]
    totals = [sum(counts[d][i] for d in deployments) for i in range(bins)]
    shares = [[100 * counts[d][i] / totals[i] if totals[i] else 0 for i in range(bins)] for d in deployments]
    if deployments:
        ax.stackplot(xs, shares, labels=deployments, step="post", alpha=0.8)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=7)
    ax.set_ylabel("% of requests served")
    ax.set_ylim(0, 100)
    ax.set_title("traffic split over time (requests served per deployment; labels: live traffic as set)", fontsize=9)


def _traffic_text(traffic: Mapping[str, int]) -> str:
    # deployments are named v<version>-<suffix>: the version says which model serves
    return " ".join(f"{name.split('-', 1)[0]}:{percent}%" for name, percent in traffic.items()) or "no traffic"


def _drift_bars(ax: Any, drift: Sequence[Mapping[str, Any]], drift_share: float) -> None:
    """Per drift job: a solid bar over the window it compared and a hatched one over the time it ran, both as
    high as its share of drifted features, joined by a dotted line."""
    for p in drift:
        share = p["share_drifted_features"]
        color = "tab:red" if share >= drift_share else "tab:blue"
        height = max(share, 0.02)  # a share of 0 still shows where the job looked
        left, right = p["window"]
        ax.bar(left, height, width=max(right - left, 1.0), align="edge", color=color)
        run = p.get("job_run")
        if run:
            ax.bar(run[0], height, width=max(run[1] - run[0], 1.0), align="edge", color=color, alpha=0.35, hatch="//")
            ax.plot([right, run[0]], [height, height], ls=":", lw=0.8, color=color)
    ax.axhline(drift_share, color="tab:red", ls="--", lw=1, label=f"alert threshold {drift_share:g}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("drift share")
    ax.set_xlabel("seconds since start")
    ax.set_title("drift: solid = the window compared, hatched = when the job ran", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=7)


def _drift_labels(drift: Sequence[Mapping[str, Any]], drift_share: float) -> list[Label]:
    labels = []
    for p in drift:
        share = p["share_drifted_features"]
        run = p.get("job_run") or p["window"]
        color = "tab:red" if share >= drift_share else "tab:blue"
        labels.append(Label((run[0] + run[1]) / 2, f"{p['label']} window: share {share:.2f}", color))
    return labels
