"""timeline.png: every mark, traffic setting and drift job is labelled, and no text of the figure covers another
(checked on the rendered boxes, Agg renderer), however close together the events are."""

from __future__ import annotations

import io
import itertools

import pytest

from demo.recorder import Recorder, Stage
from demo.timeline import build_timeline
from demo.traffic import Sent

matplotlib = pytest.importorskip("matplotlib")


def crowded_run() -> tuple[Recorder, Sent]:
    """A run whose events come as close together as the demo's can: marks a fraction of a second apart, traffic
    set three times in two seconds, two drift jobs over adjacent windows that ran back to back."""
    rec = Recorder(io.StringIO())
    rec.t0 = 0.0
    names = ["start Azurite + local platform", "train + register v1", "rollout v1", "a stage whose name is much longer"]
    for i, name in enumerate(names * 3):
        rec.stages.append(Stage(f"{name} {i}", started=i * 10.0, ended=i * 10.0 + 9.5, outcome="ok", ok=i != 5))
    rec.marks = [
        {"t": 20.0, "kind": "registered", "label": "v1 registered"},
        {"t": 20.2, "kind": "rollback", "label": "v1 rolled back"},
        {"t": 20.4, "kind": "registered", "label": "v2 registered"},
        {"t": 20.6, "kind": "alert", "label": "alert fired: share 0.26 ≥ 0.2"},
        {"t": 20.8, "kind": "rollback", "label": "v2 rolled back"},
        {"t": 60.0, "kind": "alert", "label": "alert resolved"},
    ]
    rec.traffic = [
        (30.0, {}),
        (30.5, {"v1-aaaaaa": 100}),
        (90.0, {"v1-aaaaaa": 90, "v2-bbbbbb": 10}),
        (90.7, {"v1-aaaaaa": 50, "v2-bbbbbb": 50}),
        (91.4, {"v2-bbbbbb": 100}),
    ]
    rec.drift = [
        {"label": "normal", "window": [40.0, 42.0], "job_run": [50.0, 58.0], "share_drifted_features": 0.0},
        {"label": "drifted", "window": [42.0, 44.0], "job_run": [58.5, 66.0], "share_drifted_features": 0.26},
        {"label": "again", "window": [44.0, 45.0], "job_run": [58.6, 59.0], "share_drifted_features": 0.9},
    ]
    sent = Sent()
    sent.served = [(30.0 + i * 0.05, "v1-aaaaaa") for i in range(200)] + [
        (90.0 + i * 0.05, "v2-bbbbbb") for i in range(50)
    ]
    return rec, sent


def rendered_texts(fig) -> list:
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]


def test_no_text_of_the_timeline_overlaps_another() -> None:
    import matplotlib.pyplot as plt

    rec, sent = crowded_run()
    fig = build_timeline(rec, sent, drift_share=0.2)
    try:
        texts = rendered_texts(fig)
        overlapping = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(texts, 2) if box_a.overlaps(box_b)]
    finally:
        plt.close(fig)
    assert overlapping == []


def test_the_marks_the_traffic_settings_and_the_drift_jobs_are_all_labelled() -> None:
    import matplotlib.pyplot as plt

    rec, sent = crowded_run()
    fig = build_timeline(rec, sent, drift_share=0.2)
    try:
        shown = {text for text, _ in rendered_texts(fig)}
    finally:
        plt.close(fig)
    assert {m["label"] for m in rec.marks} <= shown
    assert {"no traffic", "v1:100%", "v1:90% v2:10%", "v1:50% v2:50%", "v2:100%"} <= shown
    assert {"normal window: share 0.00", "drifted window: share 0.26", "again window: share 0.90"} <= shown
    assert "alert threshold 0.2" in shown


def test_the_timeline_is_written_as_a_png(tmp_path) -> None:
    from demo.timeline import draw_timeline

    rec, sent = crowded_run()
    draw_timeline(tmp_path / "timeline.png", rec, sent, 0.2)
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
