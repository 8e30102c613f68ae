"""Neck-area details drawn over a garment: collars, lapels and neck designs (turtle, ruffle...)."""

from __future__ import annotations

import math

import numpy as np

from fashion_core.demo.body import NECK_BASE
from fashion_core.demo.paint import Fill, Painter, Point, arc, mirror, shade

NECK_CENTRE: Point = (0.0, NECK_BASE - 0.06)


def _bezier(points: list[Point], steps: int = 14) -> list[Point]:
    """A smooth curve through the control points (de Casteljau)."""
    out: list[Point] = []
    for t in np.linspace(0.0, 1.0, steps):
        pts = list(points)
        while len(pts) > 1:
            pts = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for a, b in zip(pts, pts[1:])]
        out.append(pts[0])
    return out


def _lobe(width: float, front_round: float, back_angle: float = math.pi) -> list[Point]:
    """A flat collar's left half: a band around the neck whose front end is rounded off.

    ``front_round`` is the share of the band (from the front) over which its width falls to zero;
    large for a Peter Pan's round lobe, small for a Puritan's broad square-ish one.
    """
    inner: list[Point] = []
    outer: list[Point] = []
    for u in np.linspace(0.0, 1.0, 16):
        t = back_angle + (math.pi / 2 + 0.06 - back_angle) * u
        rise = max(0.0, (u - (1 - front_round)) / front_round)
        w = width * math.sqrt(max(1 - rise * rise, 0.0))
        inner.append((0.23 * math.cos(t), NECK_CENTRE[1] + 0.12 * math.sin(t)))
        outer.append(((0.23 + w) * math.cos(t), NECK_CENTRE[1] + (0.12 + w * 0.8) * math.sin(t)))
    return inner + outer[::-1]


def draw_collar(painter: Painter, kind: str, fill: Fill, rng: np.random.Generator) -> None:
    """Paint a collar design: ``shirt``, ``peter_pan``, ``puritan`` or ``rib``."""
    line = fill.outline
    if kind == "rib":
        with painter.layer(fill) as band:
            band.polygon(
                arc(NECK_CENTRE, 0.32, 0.2, math.pi + 0.35, -0.35, 20)
                + arc(NECK_CENTRE, 0.21, 0.09, -0.35, math.pi + 0.35, 20)
            )
        for t in np.linspace(math.pi + 0.3, -0.3, 22):
            a = (0.22 * math.cos(t), NECK_CENTRE[1] + 0.1 * math.sin(t))
            b = (0.31 * math.cos(t), NECK_CENTRE[1] + 0.19 * math.sin(t))
            painter.line([a, b], line, 0.018)
        return
    if kind == "shirt":
        _draw_shirt_collar(painter, fill, float(rng.uniform(0.78, 0.9)))
        return
    width, front = (0.3, 0.75) if kind == "peter_pan" else (0.62, 0.3)
    with painter.layer(fill) as collar:
        lobe = _lobe(width, front, math.pi + (0.3 if kind == "puritan" else 0.1))
        collar.polygon(lobe)
        collar.polygon(mirror(lobe))


def _draw_shirt_collar(painter: Painter, fill: Fill, point_y: float) -> None:
    """A collar stand around the neck and two pointed wings over a buttoned placket."""
    line = fill.outline
    painter.line([(0.0, 0.56), (0.0, 3.0)], line, 0.03)
    for y in np.arange(0.75, 3.0, 0.38):
        painter.dot((0.0, float(y)), 0.04, line)
    with painter.layer(fill) as stand:
        stand.polygon([(-0.19, 0.24), (0.19, 0.24), (0.23, 0.5), (-0.23, 0.5)])
    wing = [(-0.2, 0.3), (-0.43, 0.5), (-0.27, point_y), (-0.01, 0.56)]
    for shape in (wing, mirror(wing)):
        with painter.layer(fill) as collar:
            collar.polygon(shape)


def lapel_opening(button_y: float) -> list[Point]:
    """The V a jacket's fronts leave open, from the left neck side down to the button."""
    return [(-0.22, NECK_BASE - 0.04), (0.22, NECK_BASE - 0.04), (0.0, button_y)]


def draw_lapels(painter: Painter, kind: str, coat: Fill, inner: Fill, button_y: float) -> None:
    """Paint the open front of a jacket (showing ``inner``) and its lapels.

    ``kind`` is ``notched`` (collar and lapel with a V notch between), ``collarless`` (a plain
    trimmed edge), ``shawl`` (one smooth rolled band) or ``wide_shawl`` (a shawl out to the shoulders).
    """
    with painter.layer(inner) as opening:
        opening.polygon(lapel_opening(button_y))
    # Plain facings: on a busy print the lapel edges would get lost.
    face = Fill(shade(coat.colour, 0.85))
    top, bottom = (-0.22, NECK_BASE - 0.04), (0.0, button_y)
    if kind == "collarless":
        painter.line([top, bottom, (0.22, top[1])], coat.outline, 0.07)
        return
    if kind == "notched":
        gorge_y = NECK_BASE + 0.35
        gorge = (top[0] * (1 - (gorge_y - top[1]) / (button_y - top[1])), gorge_y)
        lapel = [gorge, (-0.4, gorge_y + 0.05), (-0.62, gorge_y - 0.1), (-0.45, gorge_y + 0.6), bottom]
        collar = [top, (-0.42, NECK_BASE + 0.02), (-0.5, gorge_y - 0.17), (-0.37, gorge_y + 0.01), gorge]
        shapes = [lapel, collar]
    else:
        reach = 0.5 if kind == "shawl" else 0.92
        edge = _bezier(
            [
                top,
                (-reach * 0.9, NECK_BASE - 0.02),
                (-reach * 1.1, 1.0),
                (-reach * 0.5, button_y - 0.3),
                bottom,
            ]
        )
        shapes = [edge]
    for shape in shapes:
        for side in (shape, mirror(shape)):
            with painter.layer(face) as lapel:
                lapel.polygon(side)


def _wave(x0: float, x1: float, y: float, amplitude: float, bumps: int) -> list[Point]:
    xs = np.linspace(x0, x1, bumps * 6 + 1)
    return [(float(x), y - amplitude * abs(math.sin(math.pi * bumps * (x - x0) / (x1 - x0)))) for x in xs]


def draw_neck(painter: Painter, kind: str, fill: Fill, rng: np.random.Generator) -> None:
    """Paint a neck design: ``turtle``, ``low_turtle``, ``ruffle`` (semi-high) or ``draped``."""
    line = fill.outline
    base = NECK_BASE + 0.04
    if kind == "draped":
        for k in range(3):
            folds = arc(
                (0.0, NECK_BASE - 0.1),
                0.5 + 0.1 * k,
                0.5 + 0.2 * k,
                0.25 + 0.05 * k,
                math.pi - 0.25 - 0.05 * k,
            )
            painter.line(folds, line, 0.035)
        return
    if kind == "ruffle":
        top = 0.16 + float(rng.uniform(-0.02, 0.02))
        with painter.layer(fill) as collar:
            collar.polygon(_wave(-0.25, 0.25, top, 0.06, 4) + [(0.29, base), (-0.29, base)])
        with painter.layer(fill) as frill:
            frill.polygon([(-0.3, base - 0.1), (0.3, base - 0.1)] + _wave(0.48, -0.48, base + 0.22, -0.07, 6))
        return
    top = 0.03 if kind == "turtle" else 0.27
    top += float(rng.uniform(-0.02, 0.02))
    with painter.layer(fill) as collar:
        collar.polygon(arc((0.0, top), 0.25, 0.04, math.pi, 2 * math.pi, 8) + [(0.29, base), (-0.29, base)])
    folds = np.linspace(top + 0.12, base - 0.08, 3 if kind == "turtle" else 1)
    for y in folds:
        painter.line(arc((0.0, float(y) - 0.02), 0.26, 0.04, math.pi - 0.1, 0.1, 8), line, 0.02)
