"""Garment shapes for the demo images: tops and dresses (necklines, sleeves), skirts, pants, coats."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fashion_core.demo.body import (
    CROTCH_Y,
    HIP_Y,
    NECK_BASE,
    WAIST_Y,
    Pose,
    arm_half_width,
    arm_joints,
    leg_half_width,
    leg_joints,
    sides,
    tube,
)
from fashion_core.demo.paint import Fill, Layer, Painter, Point, arc, mirror

# The torso's right-hand profile below the armpit: (half width, y).
SIDE_PROFILE: tuple[tuple[float, float], ...] = ((0.76, 1.2), (0.74, 1.5), (0.56, WAIST_Y), (0.84, HIP_Y))
SHOULDERED = ("round", "v", "deep_v", "square", "straight")


@dataclass(frozen=True)
class Top:
    """A top or (with ``hem`` below the hips) a dress.

    Attributes:
        neckline: Shape key: one of SHOULDERED, "high", "cowl", "back", "strapless",
            "sweetheart", "off_shoulder", "one_shoulder".
        sleeve_end: Where each sleeve ends, as a distance along the arm; None for sleeveless.
        hem: The hem's height (y).
        fill: Fabric.
        ease: Extra half-width over the body; flare: how fast a dress skirt widens per unit.
        neck_width: Half-width of the neck opening; neck_depth: how far it dips.
        strap: Strap width of sleeveless tops; sleeve_ease, sleeve_flare: sleeve looseness.
        flip: Mirror one-sided shapes (one-shoulder necklines).
    """

    neckline: str
    sleeve_end: float | None
    hem: float
    fill: Fill
    ease: float = 0.04
    flare: float = 0.15
    neck_width: float = 0.32
    neck_depth: float = 0.3
    strap: float = 0.18
    sleeve_ease: float = 0.05
    sleeve_flare: float = 0.0
    flip: bool = False


def shoulder_y(x: float) -> float:
    """Height of the shoulder line at half-width ``x`` (from the neck base out to the shoulder tip)."""
    return NECK_BASE - 0.04 + 0.22 * max(abs(x) - 0.2, 0) / 0.77


def side_profile(hem: float, ease: float, flare: float, pose: Pose) -> list[Point]:
    """The garment's right side from the armpit down to ``hem``, cut or extended at the hem."""
    points: list[Point] = []
    previous = SIDE_PROFILE[0]
    for x, y in SIDE_PROFILE:
        if y >= hem:
            t = (hem - previous[1]) / (y - previous[1])
            points.append((previous[0] + t * (x - previous[0]), hem))
            break
        points.append((x, y))
        previous = (x, y)
    else:
        points.append((0.86 + flare * (hem - HIP_Y), hem))
    return [(pose.x(x) + ease, y) for x, y in points]


def neck_opening(kind: str, width: float, depth: float) -> list[Point]:
    """The neckline's cut from the left to the right edge of the opening."""
    y0 = shoulder_y(width)
    if kind == "round":
        return arc((0.0, y0), width, depth, math.pi, 0.0)
    if kind == "cowl":
        return arc((0.0, y0), width + 0.1, depth + 0.05, math.pi, 0.0)
    if kind == "v":
        return [(-width, y0), (0.0, y0 + depth + 0.35), (width, y0)]
    if kind == "deep_v":
        return [(-width, y0), (0.0, y0 + depth + 1.05), (width, y0)]
    if kind == "square":
        return [(-width, y0), (-width, y0 + depth + 0.12), (width, y0 + depth + 0.12), (width, y0)]
    # "high" and "back": hugging the neck base.
    return arc((0.0, NECK_BASE - 0.06), 0.2, 0.07, math.pi, 0.0)


def top_edge(top: Top, pose: Pose) -> list[Point]:
    """The top boundary of a top, from the left armpit over the shoulders to the right armpit."""
    pit = pose.x(0.76) + top.ease
    kind = top.neckline
    if kind == "strapless":
        return [(-pit, 1.13), (0.0, 1.09), (pit, 1.13)]
    if kind == "sweetheart":
        hump = arc((-0.37, 1.14), 0.37, 0.24, math.pi, 2 * math.pi)
        return [(-pit, 1.16)] + hump + [(0.0, 1.24)] + mirror(hump[::-1]) + [(pit, 1.16)]
    if kind == "off_shoulder":
        band = pose.x(1.2)
        return [
            (-pit, 1.3),
            (-band, 1.22),
            (-band, 0.98),
            (0.0, 1.02),
            (band, 0.98),
            (band, 1.22),
            (pit, 1.3),
        ]
    if kind == "one_shoulder":
        edge = [(-pit, 1.2), (-0.62, 0.7), (-0.6, shoulder_y(0.6)), (-0.3, shoulder_y(0.3)), (pit, 1.17)]
        return mirror(edge[::-1]) if top.flip else edge
    if kind == "straight":
        y = 0.8
        outer = pose.x(0.97) if top.sleeve_end is not None else pose.x(0.72)
        return [
            (-pit, 1.2),
            (-outer, min(shoulder_y(outer), y)),
            (-outer + 0.05, y),
            (outer - 0.05, y),
            (outer, min(shoulder_y(outer), y)),
            (pit, 1.2),
        ]
    opening = neck_opening(kind, top.neck_width, top.neck_depth)
    if top.sleeve_end is not None:
        tip = pose.x(0.98)
        return [(-pit, 1.2), (-tip, shoulder_y(tip))] + opening + [(tip, shoulder_y(tip)), (pit, 1.2)]
    strap_x = abs(opening[0][0]) + top.strap
    strap = [(-pit, 1.2), (-strap_x - 0.06, 0.92), (-strap_x, shoulder_y(strap_x))]
    return strap + opening + mirror(strap[::-1])


def top_outline(top: Top, pose: Pose) -> list[Point]:
    right = side_profile(top.hem, top.ease, top.flare, pose)[1:]
    return top_edge(top, pose) + right + mirror(right[::-1])


def sleeve_shape(end: float, ease: float, flare: float) -> Callable[[float], float]:
    """Half-width along a sleeve: the arm plus ease, widening over the last half unit if flared."""

    def half_width(d: float) -> float:
        widen = flare * max(0.0, d - (end - 0.5)) / 0.5
        return arm_half_width(d) + ease + widen

    return half_width


def add_sleeves(
    layer: Layer, pose: Pose, end: float, ease: float, flare: float, start: float = -0.15
) -> None:
    """Add two sleeves ending ``end`` along the arm; a cap rounds the shoulder unless off-shoulder."""
    half_width = sleeve_shape(end, ease, flare)
    for side in sides():
        joints = arm_joints(pose, side)
        layer.polygon(tube(joints, start, end, half_width))
        if start <= 0:
            layer.ellipse(joints[0], 0.2 + ease, 0.2 + ease)


def draw_top(painter: Painter, top: Top, pose: Pose) -> None:
    """Paint a top or dress with its sleeves."""
    with painter.layer(top.fill) as layer:
        layer.polygon(top_outline(top, pose))
        if top.sleeve_end is not None:
            start = 0.32 if top.neckline == "off_shoulder" else -0.15
            add_sleeves(layer, pose, top.sleeve_end, top.sleeve_ease, top.sleeve_flare, start)


@dataclass(frozen=True)
class Bottom:
    """A skirt or pants ending at ``hem`` (y)."""

    kind: str
    hem: float
    fill: Fill
    ease: float = 0.05
    flare: float = 0.15


def draw_bottom(painter: Painter, bottom: Bottom, pose: Pose) -> None:
    """Paint a skirt (a flared panel) or pants (a hip block and two leg tubes)."""
    waist = pose.x(0.57) + bottom.ease
    hip = pose.x(0.86) + bottom.ease
    with painter.layer(bottom.fill) as layer:
        if bottom.kind == "skirt":
            hem = hip + bottom.flare * (bottom.hem - HIP_Y)
            layer.polygon(
                [
                    (-waist, WAIST_Y - 0.03),
                    (waist, WAIST_Y - 0.03),
                    (hip, HIP_Y),
                    (hem, bottom.hem),
                    (-hem, bottom.hem),
                    (-hip, HIP_Y),
                ]
            )
            return
        layer.polygon(
            [
                (-waist, WAIST_Y - 0.03),
                (waist, WAIST_Y - 0.03),
                (hip, HIP_Y),
                (hip - 0.05, CROTCH_Y),
                (0.0, CROTCH_Y + 0.15),
                (-hip + 0.05, CROTCH_Y),
                (-hip, HIP_Y),
            ]
        )
        for side in sides():
            joints = leg_joints(pose, side)
            length = bottom.hem - joints[0][1]
            layer.polygon(
                tube(joints, -0.1, length, lambda d: leg_half_width(d) + bottom.ease + bottom.flare * 0.1 * d)
            )


@dataclass(frozen=True)
class Coat:
    """A long-sleeved coat or jacket ending at ``hem``, open or buttoned over what is under it."""

    hem: float
    fill: Fill
    sleeve_end: float = 2.85
    ease: float = 0.12
    flare: float = 0.1
    button_y: float = 1.8
    open_front: bool = False
    belt: bool = False


def coat_outline(coat: Coat, pose: Pose) -> list[Point]:
    tip, pit = pose.x(1.02), pose.x(0.76) + coat.ease
    edge = [
        (-pit, 1.2),
        (-tip, shoulder_y(tip) - 0.03),
        (-0.24, NECK_BASE - 0.08),
        (0.24, NECK_BASE - 0.08),
        (tip, shoulder_y(tip) - 0.03),
        (pit, 1.2),
    ]
    right = side_profile(coat.hem, coat.ease, coat.flare, pose)[1:]
    return edge + right + mirror(right[::-1])


def draw_coat(painter: Painter, coat: Coat, pose: Pose, inner: Fill, *, front: bool = True) -> None:
    """Paint a coat body and sleeves, its front opening (showing ``inner``) and fastenings."""
    with painter.layer(coat.fill) as layer:
        layer.polygon(coat_outline(coat, pose))
        add_sleeves(layer, pose, coat.sleeve_end, coat.ease * 0.8, 0.03)
    if front:
        _draw_fastening(painter, coat, inner)
    if coat.belt and coat.hem > WAIST_Y + 0.2:
        w = pose.x(0.6) + coat.ease
        with painter.layer(Fill(coat.fill.outline)) as belt:
            belt.polygon(
                [(-w, WAIST_Y - 0.08), (w, WAIST_Y - 0.08), (w, WAIST_Y + 0.08), (-w, WAIST_Y + 0.08)]
            )


def _draw_fastening(painter: Painter, coat: Coat, inner: Fill) -> None:
    """An open front showing ``inner`` below the lapels, or a buttoned one."""
    if coat.open_front and coat.hem > coat.button_y + 0.2:
        with painter.layer(inner) as strip:
            strip.polygon([(-0.1, coat.button_y), (0.1, coat.button_y), (0.16, coat.hem), (-0.16, coat.hem)])
        return
    line = coat.fill.outline
    painter.line([(0.0, coat.button_y), (0.0, coat.hem)], line, 0.03)
    y = coat.button_y + 0.05
    while y < coat.hem - 0.15:
        painter.dot((0.07, y), 0.05, line)
        y += 0.5
