"""The run's picture and table: ``timeline.png`` (stages, traffic split over time, drift share per window) and the
summary table printed at the end of the run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from demo.recorder import Recorder
from demo.traffic import Sent

BIN_SECONDS = 2  # served requests are counted per bin of this many seconds


def draw_timeline(path: Path, rec: Recorder, sent: Sent, drift_share: float) -> None:
    """Three panels over the seconds since start: the stages, the share of requests each deployment served (with
    the traffic settings as dotted lines), and each drift job's share over the window it compared."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the demo's record and report do not depend on it
        rec.say("matplotlib is not installed: no timeline.png")
        return
    stages = [s for s in rec.stages if s.ended is not None]
    end = max([rec.now(), 1.0, *[s.ended - rec.t0 for s in stages if s.ended is not None]])
    fig, (ax_s, ax_t, ax_d) = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.4]}
    )
    for i, s in enumerate(stages):
        start = s.started - rec.t0
        ax_s.barh(i, (s.ended or s.started) - s.started, left=start, color="tab:green" if s.ok else "tab:red")
    ax_s.set_yticks(range(len(stages)), [f"{s.name[:48]} ({s.seconds:.0f}s)" for s in stages], fontsize=7)
    ax_s.invert_yaxis()
    ax_s.set_title("MLOps loop, local mode: stages")
    # served requests per deployment in 2 s bins (stacked share)
    bins = max(int(end // BIN_SECONDS) + 1, 1)
    deployments = sorted({d for _, d in sent.served})
    counts = {d: [0] * bins for d in deployments}
    for t, d in sent.served:
        counts[d][min(int(t // BIN_SECONDS), bins - 1)] += 1
    xs = [i * BIN_SECONDS for i in range(bins)]
    totals = [sum(counts[d][i] for d in deployments) for i in range(bins)]
    shares = [[100 * counts[d][i] / totals[i] if totals[i] else 0 for i in range(bins)] for d in deployments]
    if deployments:
        ax_t.stackplot(xs, shares, labels=deployments, step="post", alpha=0.8)
        ax_t.legend(loc="upper left", fontsize=7)
    for t, traffic in rec.traffic:
        ax_t.axvline(t, color="grey", lw=0.5, ls=":")
        ax_t.text(t, 102, ",".join(f"{v}" for v in traffic.values()), fontsize=6, rotation=90, va="bottom")
    ax_t.set_ylabel("% of requests served")
    ax_t.set_ylim(0, 100)
    ax_t.set_title("traffic split over time (requests served per deployment; dotted: traffic set)", fontsize=9)
    for p in rec.drift:  # one bar over the window each drift job compared, placed at that window
        color = "tab:red" if p["share_drifted_features"] >= drift_share else "tab:blue"
        left, right = p["window"]
        share = p["share_drifted_features"]
        ax_d.bar(left, max(share, 0.01), width=max(right - left, 2.0), align="edge", color=color)
        ax_d.text((left + right) / 2, share + 0.03, f"{p['label']} {share:.2f}", fontsize=7, ha="center")
    ax_d.axhline(drift_share, color="tab:red", ls="--", lw=1, label="alert threshold")
    ax_d.set_ylim(0, 1)
    ax_d.set_ylabel("drift share")
    ax_d.set_xlabel("seconds since start")
    ax_d.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(record: Mapping[str, Any], stream: TextIO) -> None:
    """One row per stage (name, time, result, outcome), then the run's outcome and where its artefacts are."""
    rows = [(s["name"], f"{s['seconds']:.1f}s", "ok" if s["ok"] else "FAILED", s["outcome"]) for s in record["stages"]]
    width = max((len(r[0]) for r in rows), default=10)
    print("", file=stream)
    print(f"{'stage':<{width}}  {'time':>7}  result  outcome", file=stream)
    print(f"{'-' * width}  {'-' * 7}  ------  -------", file=stream)
    for name, seconds, ok, outcome in rows:
        print(f"{name:<{width}}  {seconds:>7}  {ok:<6}  {outcome[:110]}", file=stream)
    traffic = record["traffic"]
    print(
        f"\n{record['status'].upper()} in {record['total_seconds']:.0f}s: {traffic['requests']} requests "
        f"({traffic['records']:,} records) served by {traffic['by_deployment']}; "
        f"artefacts in {Path(record['artefacts']['run']).parent}/",
        file=stream,
    )
