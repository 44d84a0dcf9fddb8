"""Draw the Teams app icons: manifest/teams/color.png (192x192) and outline.png (32x32).

The icons are committed; run this only to remake them (`.venv/bin/python
scripts/make_teams_icons.py`). Teams wants a full-colour 192x192 PNG and a 32x32 PNG that is
white on a transparent background. The motif is four quadrants, one of them lit, on the
blue of the Slack app (#1d4f91).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "manifest" / "teams"
BLUE = (29, 79, 145, 255)
LIGHT = (214, 228, 245, 255)
GOLD = (245, 184, 46, 255)
WHITE = (255, 255, 255, 255)


def color_icon() -> Image.Image:
    """192x192, full colour, opaque: four quadrants on blue, the top right one lit."""
    image = Image.new("RGBA", (192, 192), BLUE)
    draw = ImageDraw.Draw(image)
    cell, gap, margin = 56, 12, 34
    for row in range(2):
        for col in range(2):
            x = margin + col * (cell + gap)
            y = margin + row * (cell + gap)
            fill = GOLD if (row, col) == (0, 1) else LIGHT
            draw.rounded_rectangle((x, y, x + cell - 1, y + cell - 1), radius=10, fill=fill)
    return image


def outline_icon() -> Image.Image:
    """32x32, white on transparent: the same quadrants, three drawn as outlines, one filled."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    cell, gap, margin = 11, 2, 4
    for row in range(2):
        for col in range(2):
            x = margin + col * (cell + gap)
            y = margin + row * (cell + gap)
            box = (x, y, x + cell - 1, y + cell - 1)
            if (row, col) == (0, 1):
                draw.rounded_rectangle(box, radius=2, fill=WHITE)
            else:
                draw.rounded_rectangle(box, radius=2, outline=WHITE, width=2)
    return image


def main() -> None:
    color_icon().convert("RGB").save(OUT / "color.png", optimize=True)
    outline_icon().save(OUT / "outline.png", optimize=True)
    print(f"wrote {OUT / 'color.png'} and {OUT / 'outline.png'}")


if __name__ == "__main__":
    main()
