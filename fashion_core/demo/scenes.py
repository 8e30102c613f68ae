"""From a planned image to a picture: a scene whose labelled attribute follows the drawn value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from fashion_core.demo.body import Figure, Pose, draw_figure
from fashion_core.demo.details import draw_collar, draw_lapels, draw_neck
from fashion_core.demo.garments import SHOULDERED, Bottom, Coat, Top, draw_bottom, draw_coat, draw_top
from fashion_core.demo.paint import (
    BACKGROUNDS,
    RGB,
    Camera,
    Fill,
    Painter,
    make_background,
    make_fill,
    random_colour,
    random_skin,
)
from fashion_core.demo.plan import INVISIBLE, PlannedImage

SUPERSAMPLE = 2
# Sleeve ends as distances along the arm (elbow at 1.45, wrist at 2.8, fingertips at 3.4), about
# 0.6 apart so that neighbouring lengths differ by ~12 pixels on a 128-pixel image.
SLEEVE_ENDS = {
    "Cup Sleeves": 0.35,
    "Short Sleeves": 0.85,
    "Elbow Sleeves": 1.45,
    "3/4 Sleeves": 2.1,
    "Wrist Length": 2.7,
    "Long Sleeves": 3.2,
    "Extra Long Sleeves": 3.95,
}
SLEEVE_JITTER = 0.04
CALM_BACKGROUNDS = ("solid", "gradient")
NECKLINES = {
    "Strapless Neck": "strapless",
    "Deep V Neckline": "deep_v",
    "Straight Neck": "straight",
    "V Neckline": "v",
    "Square Neckline": "square",
    "Off Shoulder": "off_shoulder",
    "Round Neckline": "round",
    "Sweat Heart Neck": "sweetheart",
    "One Shoulder Neckline": "one_shoulder",
}
# Hem heights (y): the hip is at 2.9, the knee at 4.9, the ankle at 6.45, the sole at 6.78.
SKIRT_HEMS = {
    "Short Length": 3.7,
    "Knee Length": 4.85,
    "Midi Length": 5.6,
    "Ankle Length": 6.35,
    "Floor Length": 6.92,
}
PANT_HEMS = {
    "Short Pant": 3.65,
    "Mid Length": 4.55,
    "3/4 Length": 5.3,
    "Cropped Pant": 5.92,
    "Full Length": 6.62,
}
COAT_HEMS = {
    "High Waist Length": 2.05,
    "Regular Length": 2.9,
    "Long Length": 3.5,
    "Micro Length": 4.15,
    "Knee Length": 4.85,
    "Midi Length": 5.6,
    "Ankle&Floor Length": 6.6,
}
COLLARS = {
    "Shirt Collar": "shirt",
    "Peter Pan": "peter_pan",
    "Puritan Collar": "puritan",
    "Rib Collar": "rib",
}
LAPELS = {
    "Notched": "notched",
    "Collarless": "collarless",
    "Shawl Collar": "shawl",
    "Plus Size Shawl": "wide_shawl",
}
NECKS = {
    "Turtle Neck": "turtle",
    "Ruffle Semi-High Collar": "ruffle",
    "Low Turtle Neck": "low_turtle",
    "Draped Collar": "draped",
}
# Camera windows (centre x, centre y, size) in world units.
FRAMES = {
    "sleeve": (0.0, 1.85, 5.8),
    "full": (0.0, 3.0, 8.4),
    "neckline": (0.0, 0.8, 3.1),
    "collar": (0.0, 0.45, 1.9),
    "lapel": (0.0, 1.0, 2.8),
    "lower": (0.0, 4.9, 4.2),
    "upper": (0.0, 0.7, 2.9),
    "chest": (0.0, 1.6, 1.5),
}


@dataclass
class Look:
    """The random, label-independent appearance of one image: skin, hair, shoes, fabrics."""

    rng: np.random.Generator
    pixels: int
    skin: RGB
    colours: dict[str, RGB]
    fills: dict[str, Fill] = field(default_factory=dict)

    @classmethod
    def random(cls, rng: np.random.Generator, pixels: int) -> Look:
        skin = random_skin(rng)
        colours = {"top": random_colour(rng, [skin], 90), "bottom": random_colour(rng, [skin], 80)}
        colours["coat"] = random_colour(rng, [skin, colours["top"]], 80)
        colours["inner"] = random_colour(rng, [colours["coat"]], 80)
        colours["detail"] = random_colour(rng, [colours["top"], skin], 80)
        colours["hair"] = random_colour(rng, [skin], 60)
        colours["shoes"] = random_colour(rng, [skin], 40)
        return cls(rng, pixels, skin, colours)

    def fill(self, role: str) -> Fill:
        if role not in self.fills:
            self.fills[role] = make_fill(self.rng, self.pixels, self.colours[role])
        return self.fills[role]


@dataclass
class Scene:
    """Everything drawn on one image, and the window of the world the camera sees."""

    frame: str
    figure: Figure
    top: Top | None = None
    bottom: Bottom | None = None
    coat: Coat | None = None
    collar: str | None = None
    neck: str | None = None
    lapel: str | None = None
    calm: bool = False  # plain backgrounds only (sleeve images: the sleeve end is the one cue)


def _pick(rng: np.random.Generator, options: tuple | list) -> object:
    return options[int(rng.integers(len(options)))]


def _length(table: dict[str, float], value: str, maybe: str | None, rng: np.random.Generator,
            jitter: float = 0.06) -> float:
    """The value's length with jitter; a maybe-marked image leans towards its second value."""
    length = table[value] + float(rng.uniform(-jitter, jitter))
    if maybe in table:
        length += 0.4 * (table[maybe] - table[value])
    return length


def random_top(
    look: Look,
    *,
    neckline: str | None = None,
    sleeve: float | None | str = "random",
    hem: float | None = None,
) -> Top:
    """A top whose unlabelled features (neckline, sleeves, hem, fit) are random."""
    rng = look.rng
    if sleeve == "random":
        sleeve = _pick(rng, [None, *SLEEVE_ENDS.values()])
    return Top(
        neckline=neckline or str(_pick(rng, (*SHOULDERED, "high"))),
        sleeve_end=sleeve,  # type: ignore[arg-type]
        hem=hem if hem is not None else float(rng.uniform(2.45, 3.0)),
        fill=look.fill("top"),
        ease=float(rng.uniform(0.02, 0.1)),
        flare=float(rng.uniform(0.05, 0.35)),
        neck_width=float(rng.uniform(0.27, 0.4)),
        neck_depth=float(rng.uniform(0.22, 0.34)),
        strap=float(rng.uniform(0.1, 0.25)),
        sleeve_ease=float(rng.uniform(0.02, 0.12)),
        sleeve_flare=float(rng.uniform(0.0, 0.12)),
        flip=bool(rng.random() < 0.5),
    )


def random_bottom(look: Look, kind: str | None = None, hem: float | None = None) -> Bottom:
    rng = look.rng
    kind = kind or str(_pick(rng, ("skirt", "pants")))
    table = SKIRT_HEMS if kind == "skirt" else PANT_HEMS
    return Bottom(
        kind,
        hem if hem is not None else float(_pick(rng, list(table.values()))),
        look.fill("bottom"),
        float(rng.uniform(0.03, 0.1)),
        float(rng.uniform(0.03, 0.3)),
    )


def random_coat(look: Look, hem: float | None = None) -> Coat:
    rng = look.rng
    hem = hem if hem is not None else float(rng.uniform(2.8, 3.4))
    return Coat(
        hem,
        look.fill("coat"),
        float(rng.uniform(2.7, 3.05)),
        float(rng.uniform(0.1, 0.18)),
        float(rng.uniform(0.02, 0.2)),
        min(float(rng.uniform(1.55, 2.0)), hem - 0.15),
        bool(rng.random() < 0.4),
        bool(rng.random() < 0.25),
    )


def base_scene(frame: str, look: Look, *, arms: bool = True, back: bool = False) -> Scene:
    rng = look.rng
    hair_style = "bun" if back and rng.random() < 0.3 else str(_pick(rng, ("none", "short", "bun", "bob")))
    figure = Figure(
        Pose.random(rng),
        look.skin,
        look.colours["hair"],
        hair_style,
        look.colours["shoes"],
        arms=arms,
        back_view=back,
    )
    return Scene(frame, figure)


def hidden_scene(look: Look) -> Scene:
    """An image where the neck area is out of view: cropped away, or the figure turned round."""
    if look.rng.random() < 0.5:
        scene = base_scene("lower", look, arms=False)
    else:
        scene = base_scene("neckline", look, back=True)
    scene.top = random_top(look, neckline="back" if scene.figure.back_view else None)
    scene.bottom = random_bottom(look)
    return scene


def sleeve_scene(look: Look, value: str, maybe: str | None) -> Scene:
    if value == INVISIBLE:
        if look.rng.random() < 0.5:
            return _lower_scene(look)
        scene = base_scene("chest", look)
        scene.top = random_top(look)
        return scene
    scene = base_scene("sleeve", look)
    end = None if value == "Sleeveless" else _length(SLEEVE_ENDS, value, maybe, look.rng, SLEEVE_JITTER)
    # A plain top on a plain background: textures and busy walls hide where a sleeve ends at
    # 128 pixels far more than they do in photos, and sleeve length is the demo's headline task.
    scene.top = replace(random_top(look, sleeve=end), fill=Fill(look.colours["top"]))
    scene.bottom = random_bottom(look)
    scene.calm = True
    return scene


def _lower_scene(look: Look) -> Scene:
    scene = base_scene("lower", look, arms=False)
    scene.top = random_top(look)
    scene.bottom = random_bottom(look)
    return scene


def neckline_scene(look: Look, value: str, maybe: str | None) -> Scene:
    if value == INVISIBLE:
        return hidden_scene(look)
    key = NECKLINES[value]
    sleeve: float | None | str = "random"
    if key in ("strapless", "sweetheart", "one_shoulder"):
        sleeve = None
    elif key == "off_shoulder":
        sleeve = float(_pick(look.rng, list(SLEEVE_ENDS.values())[1:]))
    scene = base_scene("neckline", look)
    scene.top = random_top(look, neckline=key, sleeve=sleeve)
    return scene


def collar_scene(look: Look, value: str, maybe: str | None) -> Scene:
    if value == INVISIBLE:
        return hidden_scene(look)
    scene = base_scene("collar", look)
    scene.top = random_top(look, neckline="high")
    scene.collar = COLLARS[value]
    return scene


def neck_scene(look: Look, value: str, maybe: str | None) -> Scene:
    if value == INVISIBLE:
        return hidden_scene(look)
    scene = base_scene("collar", look)
    scene.neck = NECKS[value]
    scene.top = random_top(look, neckline="cowl" if scene.neck == "draped" else "high")
    return scene


def lapel_scene(look: Look, value: str, maybe: str | None) -> Scene:
    if value == INVISIBLE:
        scene = hidden_scene(look)
    else:
        scene = base_scene("lapel", look)
        scene.top = random_top(look, neckline="high")
        scene.lapel = LAPELS[value]
    scene.coat = replace(random_coat(look), open_front=False)
    return scene


def coat_scene(look: Look, value: str, maybe: str | None) -> Scene:
    invisible = value == INVISIBLE
    scene = base_scene("upper" if invisible else "full", look)
    scene.top = random_top(look, hem=float(look.rng.uniform(2.45, 2.9)))
    scene.bottom = random_bottom(look)
    hem = None if invisible else _length(COAT_HEMS, value, maybe, look.rng)
    scene.coat = random_coat(look, hem)
    scene.lapel = str(_pick(look.rng, ("notched", "shawl", "collarless")))
    return scene


def skirt_scene(look: Look, value: str, maybe: str | None) -> Scene:
    invisible = value == INVISIBLE
    scene = base_scene("upper" if invisible else "full", look)
    hem = _length(SKIRT_HEMS, str(_pick(look.rng, list(SKIRT_HEMS))) if invisible else value, maybe, look.rng)
    if look.rng.random() < 0.5:
        scene.top = random_top(look, hem=hem)
    else:
        scene.top = random_top(look, hem=float(look.rng.uniform(2.4, 2.75)))
        scene.bottom = random_bottom(look, "skirt", hem)
    return scene


def pant_scene(look: Look, value: str, maybe: str | None) -> Scene:
    invisible = value == INVISIBLE
    scene = base_scene("upper" if invisible else "full", look)
    hem = None if invisible else _length(PANT_HEMS, value, maybe, look.rng)
    scene.top = random_top(look)
    scene.bottom = random_bottom(look, "pants", hem)
    return scene


BUILDERS: dict[str, Callable[[Look, str, str | None], Scene]] = {
    "coat_length_labels": coat_scene,
    "collar_design_labels": collar_scene,
    "lapel_design_labels": lapel_scene,
    "neck_design_labels": neck_scene,
    "neckline_design_labels": neckline_scene,
    "pant_length_labels": pant_scene,
    "skirt_length_labels": skirt_scene,
    "sleeve_length_labels": sleeve_scene,
}


def camera_for(scene: Scene, rng: np.random.Generator, pixels: int) -> Camera:
    """The scene's frame with a small random shift and zoom."""
    cx, cy, size = FRAMES[scene.frame]
    size *= float(rng.uniform(0.95, 1.05))
    dx, dy = rng.uniform(-0.03, 0.03) * size, rng.uniform(-0.02, 0.02) * size
    return Camera(cx + float(dx), cy + float(dy), size, pixels)


def paint_scene(scene: Scene, look: Look, camera: Camera) -> Image.Image:
    rng = look.rng
    avoid = [look.skin, look.colours["top"], look.colours["coat"] if scene.coat else look.colours["bottom"]]
    kinds = CALM_BACKGROUNDS if scene.calm else BACKGROUNDS
    painter = Painter(camera, make_background(rng, camera.pixels, avoid, kinds))
    pose = scene.figure.pose
    draw_figure(painter, scene.figure)
    if scene.bottom:
        draw_bottom(painter, scene.bottom, pose)
    if scene.top:
        top = scene.top if not scene.figure.back_view else replace(scene.top, neckline="back")
        draw_top(painter, top, pose)
    contrast = rng.random() < 0.5
    if scene.collar and not scene.figure.back_view:
        draw_collar(painter, scene.collar, look.fill("detail" if contrast else "top"), rng)
    if scene.neck and not scene.figure.back_view:
        role = "detail" if contrast and scene.neck != "draped" else "top"
        draw_neck(painter, scene.neck, look.fill(role), rng)
    if scene.coat:
        draw_coat(painter, scene.coat, pose, look.fill("inner"), front=not scene.figure.back_view)
        if scene.lapel and not scene.figure.back_view:
            draw_lapels(painter, scene.lapel, scene.coat.fill, look.fill("inner"), scene.coat.button_y)
    return painter.canvas


def render_image(item: PlannedImage, seed: int, image_size: int) -> Image.Image:
    """Draw one planned image (its drawn value, which is not the label on wrong rows)."""
    rng = np.random.default_rng([seed, 2, item.index])
    pixels = image_size * SUPERSAMPLE
    look = Look.random(rng, pixels)
    scene = BUILDERS[item.category](look, item.drawn_value, item.maybe_value)
    image = paint_scene(scene, look, camera_for(scene, rng, pixels))
    return image.reduce(SUPERSAMPLE)
