"""A matplotlib backend for notebook tests that looks at every figure a notebook shows.

``MPLBACKEND=module://tests.notebooks.figure_check`` in a kernel's environment: each ``plt.show()``
draws the open figures with Agg, saves them as PNGs in ``$FIGURE_CHECK_DIR`` (for a person to look at)
and appends one JSON line per figure to ``$FIGURE_CHECK_DIR/figures.jsonl`` with what a reader would
trip over:

- two pieces of text that overlap (titles, axis and tick labels, legends, annotations, suptitles);
- text that sticks out of the figure (cut off in the saved image);
- text of one axes drawn over the plotting area of another;
- an empty box: a visible axes with nothing drawn in it.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib._pylab_helpers import Gcf
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

FigureCanvas = FigureCanvasAgg

#: Overlaps smaller than this (pixels, in both directions, at 100 dpi) are antialiasing, not a problem.
TOLERANCE = 1.5


def _texts(ax: Axes) -> list[tuple[str, Text]]:
    """Every visible, non-empty text of ``ax`` with a short label saying which it is."""
    found: list[tuple[str, Text]] = []
    for name, title in (
        ("title", ax.title),
        ("left title", ax._left_title),
        ("right title", ax._right_title),
    ):
        found.append((name, title))
    found.append(("x label", ax.xaxis.label))
    found.append(("y label", ax.yaxis.label))
    for axis_name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        for tick in axis._update_ticks():  # the ticks drawn: inside the view limits
            for label in (tick.label1, tick.label2):
                if tick.get_visible() and label.get_visible():
                    found.append((f"{axis_name} tick label", label))
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        found += [("legend", t) for t in legend.get_texts()]
    found += [("text", t) for t in ax.texts]
    return [(name, t) for name, t in found if t.get_visible() and t.get_text().strip()]


def _overlap(a: Bbox, b: Bbox) -> bool:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE and height > TOLERANCE


def _corners(text: Text, box: Bbox) -> np.ndarray:
    """The four corners of the text's own (possibly rotated) rectangle, from its axis-aligned box: the
    rectangle is centred in the box, and box = |R| (w, h) for its width and height."""
    angle = np.deg2rad(text.get_rotation())
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    if abs(c - s) < 0.05:  # near 45 degrees the box does not tell the sides apart: use the box
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    w, h = np.linalg.solve([[c, s], [s, c]], [box.width, box.height])
    u = np.array([np.cos(angle), np.sin(angle)]) * w / 2
    v = np.array([-np.sin(angle), np.cos(angle)]) * h / 2
    centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
    return np.array([centre - u - v, centre + u - v, centre + u + v, centre - u + v])


def _polygons_overlap(p: np.ndarray, q: np.ndarray) -> bool:
    """Convex polygons overlap by more than the tolerance along every separating axis (SAT)."""
    for polygon in (p, q):
        for i in range(len(polygon)):
            edge = polygon[(i + 1) % len(polygon)] - polygon[i]
            normal = np.array([-edge[1], edge[0]]) / (np.hypot(*edge) or 1.0)
            a, b = p @ normal, q @ normal
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= TOLERANCE:
                return False
    return True


def _is_empty(ax: Axes) -> bool:
    drawn = ax.images + ax.lines + ax.collections + ax.texts + ax.tables
    patches = [p for p in ax.patches if p.get_visible()]
    return ax.get_visible() and ax.axison and not (drawn or patches or ax.containers)


def figure_problems(fig: Figure) -> list[str]:
    """What a reader would trip over in ``fig`` (an empty list when the figure is clean)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    problems: list[str] = []
    page = fig.bbox
    axes = [ax for ax in fig.axes if ax.get_visible()]
    labelled: list[tuple[str, Text, Axes | None]] = []
    for index, ax in enumerate(axes):
        if _is_empty(ax):
            problems.append(f"axes {index} is an empty box")
        labelled += [(f"axes {index} {name} {t.get_text()!r}", t, ax) for name, t in _texts(ax)]
    # fig.texts holds fig.text(...) and the suptitle
    labelled += [(f"figure text {t.get_text()!r}", t, None) for t in fig.texts if t.get_visible()]
    boxes = [(label, t.get_window_extent(renderer), ax) for label, t, ax in labelled]
    for label, box, _ in boxes:
        if (
            box.x0 < page.x0 - TOLERANCE
            or box.y0 < page.y0 - TOLERANCE
            or box.x1 > page.x1 + TOLERANCE
            or (box.y1 > page.y1 + TOLERANCE)
        ):
            problems.append(f"{label} is cut off at the edge of the figure")
    shapes = {label: _corners(t, box) for (label, t, _), (_, box, _) in zip(labelled, boxes, strict=True)}
    for (label_a, box_a, _), (label_b, box_b, _) in itertools.combinations(boxes, 2):
        if _overlap(box_a, box_b) and _polygons_overlap(shapes[label_a], shapes[label_b]):
            problems.append(f"{label_a} overlaps {label_b}")
    for label, box, owner in boxes:
        for index, ax in enumerate(axes):
            if ax is not owner and ax.axison and _overlap(box, ax.bbox):
                problems.append(f"{label} is drawn over the plot of axes {index}")
    return problems


def show(*args: Any, **kwargs: Any) -> None:
    """Check, save and close every open figure (``plt.show()`` in the kernel)."""
    folder = Path(os.environ.get("FIGURE_CHECK_DIR", "figures"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "figures.jsonl"
    for manager in Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        number = sum(1 for _ in folder.glob("figure_*.png")) + 1
        name = f"figure_{number:02d}.png"
        problems = figure_problems(fig)
        fig.savefig(folder / name, dpi=fig.dpi)
        with log.open("a") as out:
            out.write(json.dumps({"figure": name, "problems": problems}) + "\n")
    Gcf.destroy_all()
