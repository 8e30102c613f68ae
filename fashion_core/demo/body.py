"""The figure the demo garments are drawn on: fixed proportions, a slight random pose, skin."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fashion_core.demo.paint import RGB, Fill, Painter, Point, arc

# World units: one head height, y down, chin at y = 0. The arm has fixed segment lengths so a
# sleeve's end position along it means the same thing on every image.
HEAD_CENTRE: Point = (0.0, -0.5)
HEAD_RX, HEAD_RY = 0.36, 0.5
NECK_HW, NECK_TOP, NECK_BASE = 0.15, -0.2, 0.48
ARM_ROOT: Point = (0.86, 0.8)
UPPER_ARM, FOREARM, HAND = 1.45, 1.35, 0.6
WRIST = UPPER_ARM + FOREARM
FINGERTIPS = WRIST + HAND
WAIST_Y, HIP_Y, CROTCH_Y = 2.2, 2.9, 3.35
KNEE_Y, ANKLE_Y, SOLE_Y = 4.9, 6.45, 6.78


@dataclass(frozen=True)
class Pose:
    """Arm angles from vertical (radians, outwards), elbow bends, body width and stance."""

    angles: tuple[float, float]
    bends: tuple[float, float]
    width: float
    stance: float = 0.45

    @classmethod
    def random(cls, rng: np.random.Generator) -> Pose:
        angles = rng.uniform(math.radians(12), math.radians(22), size=2)
        bends = rng.uniform(math.radians(-4), math.radians(6), size=2)
        return cls(
            (float(angles[0]), float(angles[1])),
            (float(bends[0]), float(bends[1])),
            float(rng.uniform(0.94, 1.06)),
            float(rng.uniform(0.38, 0.6)),
        )

    def x(self, x: float) -> float:
        return x * self.width


def sides() -> tuple[int, int]:
    """Left (-1) and right (+1), as the viewer sees them."""
    return (-1, 1)


def arm_joints(pose: Pose, side: int) -> list[Point]:
    """Shoulder joint, elbow, wrist and fingertips of one arm."""
    i = 0 if side < 0 else 1
    upper, lower = pose.angles[i], pose.angles[i] + pose.bends[i]
    root = (side * pose.x(ARM_ROOT[0]), ARM_ROOT[1])
    elbow = (root[0] + side * UPPER_ARM * math.sin(upper), root[1] + UPPER_ARM * math.cos(upper))
    wrist = (elbow[0] + side * FOREARM * math.sin(lower), elbow[1] + FOREARM * math.cos(lower))
    tips = (wrist[0] + side * HAND * math.sin(lower), wrist[1] + HAND * math.cos(lower))
    return [root, elbow, wrist, tips]


def along(joints: Sequence[Point], d: float) -> tuple[Point, Point]:
    """The point at distance ``d`` along a polyline (extended straight past both ends) and its direction."""
    for a, b in zip(joints[:-1], joints[1:]):
        seg = math.dist(a, b)
        ux, uy = (b[0] - a[0]) / seg, (b[1] - a[1]) / seg
        if d <= seg or b == joints[-1]:
            return (a[0] + ux * d, a[1] + uy * d), (ux, uy)
        d -= seg
    raise ValueError("a polyline needs at least two points")


def tube(
    joints: Sequence[Point], d0: float, d1: float, half_width: Callable[[float], float], steps: int = 12
) -> list[Point]:
    """A polygon following a polyline from distance ``d0`` to ``d1``, cut square at both ends."""
    left: list[Point] = []
    right: list[Point] = []
    for d in np.linspace(d0, d1, steps):
        (x, y), (ux, uy) = along(joints, float(d))
        w = half_width(float(d))
        left.append((x - uy * w, y + ux * w))
        right.append((x + uy * w, y - ux * w))
    return left + right[::-1]


def arm_half_width(d: float) -> float:
    """Half the arm's thickness at distance ``d`` from the shoulder joint."""
    if d < UPPER_ARM:
        return 0.21 - 0.06 * max(d, 0) / UPPER_ARM
    return max(0.15 - 0.035 * (d - UPPER_ARM) / FOREARM, 0.115)


def leg_joints(pose: Pose, side: int) -> list[Point]:
    """Hip joint, knee and ankle of one leg."""
    knee = 0.42 + (pose.stance - 0.42) * (KNEE_Y - 2.95) / (ANKLE_Y - 2.95)
    return [(side * pose.x(0.42), 2.95), (side * pose.x(knee), KNEE_Y), (side * pose.x(pose.stance), ANKLE_Y)]


def leg_half_width(d: float) -> float:
    """Half the leg's thickness at distance ``d`` below the hip joint."""
    knee = KNEE_Y - 2.95
    if d < knee:
        return 0.38 - 0.17 * max(d, 0) / knee
    return max(0.21 - 0.09 * (d - knee) / (ANKLE_Y - KNEE_Y), 0.12)


def torso_outline(pose: Pose) -> list[Point]:
    """The bare torso from the neck to the crotch."""
    right = [
        (0.2, NECK_BASE - 0.05),
        (0.95, 0.66),
        (0.76, 1.2),
        (0.74, 1.5),
        (0.55, WAIST_Y),
        (0.82, HIP_Y),
        (0.76, CROTCH_Y),
    ]
    right = [(pose.x(x), y) for x, y in right]
    return [(-x, y) for x, y in reversed(right)] + right + [(0.0, CROTCH_Y + 0.1)]


@dataclass(frozen=True)
class Figure:
    """What of the figure is drawn: a pose, skin, hair and shoes, and which parts show."""

    pose: Pose
    skin: RGB
    hair: RGB
    hair_style: str
    shoes: RGB
    arms: bool = True
    back_view: bool = False


def draw_figure(painter: Painter, figure: Figure) -> None:
    """Paint the bare figure: legs and shoes, torso, neck, head, arms."""
    pose = figure.pose
    with painter.layer(Fill(figure.skin)) as skin:
        for side in sides():
            skin.polygon(tube(leg_joints(pose, side), -0.2, ANKLE_Y - 2.8, leg_half_width))
        skin.polygon(torso_outline(pose))
        skin.polygon(
            [
                (-NECK_HW, NECK_TOP),
                (NECK_HW, NECK_TOP),
                (NECK_HW * 1.3, NECK_BASE + 0.1),
                (-NECK_HW * 1.3, NECK_BASE + 0.1),
            ]
        )
        skin.ellipse(HEAD_CENTRE, HEAD_RX, HEAD_RY)
        if figure.arms:
            for side in sides():
                joints = arm_joints(pose, side)
                skin.polygon(tube(joints, 0.0, WRIST + 0.05, arm_half_width))
                skin.ellipse(joints[0], 0.2, 0.2)
                skin.polygon(tube(joints, WRIST, FINGERTIPS - 0.1, lambda d: 0.13))
                skin.ellipse(along(joints, FINGERTIPS - 0.12)[0], 0.12, 0.12)
    with painter.layer(Fill(figure.shoes)) as shoes:
        for side in sides():
            x = leg_joints(pose, side)[-1][0]
            shoes.ellipse((x + side * 0.06, SOLE_Y - 0.12), 0.2, 0.13)
    draw_hair(painter, figure)


def draw_hair(painter: Painter, figure: Figure) -> None:
    """Hair over the head; seen from the back it hides the whole head (no face)."""
    if figure.hair_style == "none" and not figure.back_view:
        return
    cx, cy = HEAD_CENTRE
    with painter.layer(Fill(figure.hair)) as hair:
        if figure.back_view:
            hair.ellipse((cx, cy - 0.02), HEAD_RX + 0.05, HEAD_RY + 0.03)
        else:
            top = arc((cx, cy), HEAD_RX + 0.05, HEAD_RY + 0.04, math.pi, 2 * math.pi)
            fringe = arc((cx, cy - 0.1), HEAD_RX - 0.02, 0.14, 0.0, math.pi)
            hair.polygon(top + fringe)
        if figure.hair_style == "bun":
            hair.ellipse((cx, cy - HEAD_RY - 0.08), 0.2, 0.16)
        elif figure.hair_style == "bob":
            for side in sides():
                hair.polygon(
                    [
                        (side * (HEAD_RX - 0.06), cy - 0.2),
                        (side * (HEAD_RX + 0.07), cy - 0.2),
                        (side * (HEAD_RX + 0.04), cy + 0.42),
                        (side * (HEAD_RX - 0.1), cy + 0.42),
                    ]
                )
