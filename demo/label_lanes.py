"""Labels that never overlap: each label goes into the first lane (a height in the axes) where its rendered box
is clear of every text already in the figure; when every lane is taken at its place, it moves right, past what
it would cover, in the first lane. Boxes are measured with the figure's renderer, so the figure's layout must be
final before labels are placed (they are left out of later layout passes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PAD_PIXELS = 2.0
MAX_SHIFTS = 50


@dataclass(frozen=True)
class Label:
    x: float  # data coordinate
    text: str
    color: str = "black"
    ha: str = "center"


def _clear(box: Any, taken: Sequence[Any]) -> bool:
    padded = box.padded(PAD_PIXELS)
    return not any(padded.overlaps(other) for other in taken)


def visible_text_boxes(fig: Any, renderer: Any) -> list[Any]:
    """The rendered box of every visible, non-empty text of ``fig`` (tick labels, titles, legends, labels)."""
    from matplotlib.text import Text

    return [
        t.get_window_extent(renderer)
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None
    ]


def place_labels(ax: Any, labels: Sequence[Label], lanes: Sequence[float], *, fontsize: float = 7) -> list[Any]:
    """Add ``labels`` to ``ax`` at their x (data) and a lane's height (axes fraction, tried in order), each clear
    of every other text of the figure; returns the texts."""
    from matplotlib.transforms import blended_transform_factory

    fig = ax.get_figure()
    fig.canvas.draw()  # tick labels get their final positions only when drawn
    renderer = fig.canvas.get_renderer()
    taken = visible_text_boxes(fig, renderer)
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    placed = []
    for label in sorted(labels, key=lambda item: item.x):
        text = ax.text(
            label.x,
            lanes[0],
            label.text,
            transform=transform,
            fontsize=fontsize,
            color=label.color,
            ha=label.ha,
            va="center",
            clip_on=False,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5},
        )
        text.set_in_layout(False)
        box = _first_clear_lane(text, lanes, renderer, taken)
        if box is None:
            box = _shift_right(text, ax, lanes[0], renderer, taken)
        taken.append(box)
        placed.append(text)
    return placed


def _first_clear_lane(text: Any, lanes: Sequence[float], renderer: Any, taken: Sequence[Any]) -> Any | None:
    x = text.get_position()[0]
    for lane in lanes:
        text.set_position((x, lane))
        box = text.get_window_extent(renderer)
        if _clear(box, taken):
            return box
    return None


def _shift_right(text: Any, ax: Any, lane: float, renderer: Any, taken: Sequence[Any]) -> Any:
    """Move ``text`` (in ``lane``) right of whatever it overlaps until it is clear."""
    x = text.get_position()[0]
    text.set_position((x, lane))
    box = text.get_window_extent(renderer)
    for _ in range(MAX_SHIFTS):
        blocking = [other for other in taken if box.padded(PAD_PIXELS).overlaps(other)]
        if not blocking:
            break
        dx_pixels = max(other.x1 for other in blocking) - box.x0 + 2 * PAD_PIXELS + 1
        to_data = ax.transData.inverted()
        x = to_data.transform((box.x0 + dx_pixels, 0))[0] + (x - to_data.transform((box.x0, 0))[0])
        text.set_position((x, lane))
        box = text.get_window_extent(renderer)
    return box
