"""Style presets for portrait generation: each preset is a list of scene/outfit/pose variations, so
image ``i`` of a batch takes variation ``i`` (cycling) and seed ``seed + i``: twenty different
portraits of one person from one press of Queue.

Backgrounds are asked for sharp and rich in practical light sources (windows, lamps, string lights,
city lights): the optical blur is LensBokeh's job afterwards, and a background the model has already
smeared cannot be re-focused. Framing suits an 85 mm head-and-shoulders portrait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FRAMING = "head-and-shoulders portrait, 85mm lens framing, eye level, looking at the camera"
QUALITY = "photograph, natural skin texture, detailed eyes, sharp focus throughout, deep depth of field"
SHARP_BACKGROUND = "background in sharp focus with visible practical light sources"
TAKES = ("different angle", "three-quarter view", "candid moment")
FIXED_POSE_TAKES = ("candid moment", "soft smile", "serious expression")
NEGATIVE = (
    "bokeh, blurry background, depth of field, shallow focus, tilt-shift, out of focus, motion blur, "
    "lowres, deformed face, asymmetric eyes, extra fingers, text, watermark, logo, cartoon, painting, "
    "3d render, oversaturated"
)

STYLES: dict[str, list[str]] = {
    "studio headshot": [
        "in a photo studio, charcoal seamless backdrop, softbox key light, a row of bare bulbs behind, navy sweater",
        "in a photo studio, warm grey backdrop with a lit paper lantern, crisp white shirt, slight head tilt",
        "in a photo studio, textured canvas backdrop, two practical lamps in frame, black turtleneck",
        "in a photo studio, light blue backdrop, rim light, string lights along the wall, denim jacket",
        "in a photo studio, dark green backdrop, a glowing floor lamp behind, beige cardigan, arms crossed",
        "in a photo studio, white brick wall with wall sconces, striped shirt, relaxed smile",
    ],
    "cinematic": [
        "in a neon-lit diner at night, red and teal signs, leather jacket, moody light",
        "in a train carriage at dusk, window lights streaking past, wool coat, looking over the shoulder",
        "on a rooftop at blue hour, city lights across the skyline, trench coat, wind in the hair",
        "in a jazz bar, stage lights and candles on tables, dark suit, contemplative expression",
        "in a rain-soaked alley, shop signs and street lamps, hooded jacket, wet reflections",
        "in a vintage cinema foyer, marquee bulbs, velvet blazer, soft smile",
    ],
    "golden hour outdoors": [
        "in a meadow at golden hour, low sun behind, sun flares through trees, linen shirt",
        "on a beach boardwalk at sunset, string lights on the railing, light summer dress or shirt",
        "in a park at golden hour, lamp posts lighting up, knitted sweater, warm backlight",
        "on a city bridge at sunset, street lamps coming on, denim jacket, hair catching the light",
        "in a vineyard at golden hour, lanterns along the rows, white blouse or shirt",
        "on a hillside terrace at sunset, café lights overhead, light scarf",
    ],
    "editorial": [
        "fashion editorial in a modern gallery, track lights on white walls, structured blazer",
        "fashion editorial in a loft, tall windows and pendant lamps, oversized coat, confident pose",
        "magazine cover portrait, marble lobby with brass lamps, silk shirt",
        "editorial portrait in a greenhouse, hanging bulbs among plants, patterned shirt",
        "editorial portrait on a stairwell, wall lights in a row, monochrome outfit",
        "editorial portrait in a hotel corridor, sconces receding into the distance, tailored suit",
    ],
    "business": [
        "corporate headshot in a bright office, windows with city view, navy blazer, approachable smile",
        "professional portrait in a meeting room, glass walls and ceiling lights, grey suit",
        "LinkedIn headshot in a modern lobby, pendant lights, white shirt, confident expression",
        "business portrait in a library office, desk lamps and bookshelves, dark cardigan over shirt",
        "executive portrait by a window at dusk, office lights behind, charcoal suit",
        "startup founder portrait in a co-working space, string lights and plants, casual blazer",
    ],
    "night city": [
        "at night on a city street, shop windows and neon signs, black coat",
        "at night under a train bridge, sodium street lamps and traffic lights, bomber jacket",
        "at night in a market street, paper lanterns and stall lights, scarf",
        "at night on a rooftop bar, fairy lights and skyline, evening wear",
        "at night at a crosswalk, headlights and billboards, rain jacket",
        "at night by a harbour, lights reflecting on the water, knitted hat",
    ],
    "cozy home": [
        "in a cosy living room, table lamp and string lights on a bookshelf, chunky knit sweater",
        "in a kitchen in the evening, pendant lights over the counter, apron over a shirt",
        "by a window at night, fairy lights on the frame, soft blanket over the shoulders",
        "in a reading nook, floor lamp and candles, cardigan, holding a mug",
        "in a home office, desk lamp and monitor glow, hoodie",
        "by a fireplace, mantel candles and warm lamps, flannel shirt",
    ],
}


@dataclass(frozen=True)
class PortraitPrompt:
    """The prompts and seed of one image of a batch."""

    index: int
    positive: str
    negative: str
    seed: int


def subject(meta: dict[str, Any], use_age_gender: bool) -> str:
    """The words naming the person: "a person", or with ``use_age_gender`` the identity's estimated
    age and gender (InsightFace: gender 1 = male, 0 = female) when it has them."""
    if not use_age_gender:
        return "a person"
    words = []
    ages = meta.get("age") or []
    genders = meta.get("gender") or []
    if ages:
        age = sum(float(a) for a in ages) / len(ages)
        words.append(f"{int(round(age / 5.0) * 5)}-year-old")
    if genders:
        male = sum(int(g) for g in genders) / len(genders) >= 0.5
        words.append("man" if male else "woman")
    else:
        words.append("person")
    return "a " + " ".join(words)


def build_prompts(
    style: str,
    count: int,
    seed: int,
    prompt: str = "",
    negative: str = "",
    meta: dict[str, Any] | None = None,
    use_age_gender: bool = False,
    fixed_pose: bool = False,
) -> list[PortraitPrompt]:
    """``count`` prompts for ``style``: image ``i`` takes variation ``i`` (cycling) and seed ``seed + i``.
    ``prompt`` / ``negative`` are appended to every image's positive / negative prompt. Past the style's
    variations, later rounds add a change of angle; with ``fixed_pose`` (InstantID, whose IdentityNet
    always draws the selfie's head pose) a change of expression instead, so the prompt does not fight it."""
    if style not in STYLES:
        raise ValueError(f"style {style!r} is not a preset; choose one of: {', '.join(STYLES)}")
    if count < 1:
        raise ValueError(f"batch_size must be at least 1, got {count}")
    who = subject(meta or {}, use_age_gender)
    variations = STYLES[style]
    out = []
    for i in range(count):
        scene = variations[i % len(variations)]
        take = i // len(variations)
        parts = [f"photo of {who}", scene, FRAMING, SHARP_BACKGROUND, QUALITY]
        if take:
            parts.append((FIXED_POSE_TAKES if fixed_pose else TAKES)[(take - 1) % 3])
        if prompt.strip():
            parts.append(prompt.strip())
        neg = NEGATIVE + (", " + negative.strip() if negative.strip() else "")
        out.append(PortraitPrompt(i, ", ".join(parts), neg, (seed + i) % 2**64))
    return out
