"""Pictures for the demo marketplace, drawn with Pillow: no files to ship, no network.

Each picture is a diagonal gradient in two colours taken from a hash of its title, one of a few
simple patterns (circles, stripes, rings) and the title's initials, so every listing and store
looks different and the same title always gets the same picture. A picture takes a few
milliseconds; the whole demo's take well under a second.
"""

import colorsys
import hashlib
import io

from django.core.files.base import ContentFile
from django.utils.text import slugify
from PIL import Image, ImageChops, ImageDraw, ImageFont

LISTING_SIZE = (800, 600)
LOGO_SIZE = (256, 256)
PATTERNS = ("circles", "stripes", "rings")


def _digest(text):
    return hashlib.sha256(text.encode()).digest()


def palette(text):
    """Two colours for `text`: a hue from its hash and a neighbour, muted enough for white
    letters to read on both (WCAG large-text contrast)."""
    digest = _digest(text)
    hue = digest[0] / 255
    shift = 0.06 + digest[1] / 255 * 0.16
    saturation = 0.45 + digest[2] / 255 * 0.25
    first = colorsys.hsv_to_rgb(hue, saturation, 0.62)
    second = colorsys.hsv_to_rgb((hue + shift) % 1, saturation, 0.42)
    return tuple(round(c * 255) for c in first), tuple(round(c * 255) for c in second)


def initials(text, letters=2):
    words = [word for word in text.split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:letters]).upper() or "?"


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def _gradient(size, first, second):
    """A diagonal blend from `first` (top left) to `second` (bottom right)."""
    down = Image.linear_gradient("L")
    mask = ImageChops.add(down, down.rotate(90), scale=2).resize(size)
    return Image.composite(Image.new("RGB", size, second), Image.new("RGB", size, first), mask)


def _pattern(image, text):
    digest = _digest(text)
    width, height = image.size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    light = (255, 255, 255, 34)
    kind = PATTERNS[digest[3] % len(PATTERNS)]
    if kind == "circles":
        for i in range(4):
            x = digest[4 + i] / 255 * width
            y = digest[8 + i] / 255 * height
            r = (0.12 + digest[12 + i] / 255 * 0.25) * width
            draw.ellipse((x - r, y - r, x + r, y + r), fill=light)
    elif kind == "stripes":
        step = max(24, width // (6 + digest[4] % 5))
        half = step // 2
        for x in range(-height, width + height, step):
            band = [(x, 0), (x + half, 0), (x + half - height, height), (x - height, height)]
            draw.polygon(band, fill=light)
    else:
        cx = digest[4] / 255 * width
        cy = digest[5] / 255 * height
        for r in range(width // 10, width + height, max(20, width // 14)):
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=light, width=max(4, width // 80))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def _letters(image, text, scale):
    width, height = image.size
    draw = ImageDraw.Draw(image)
    font = _font(round(height * scale))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (width - (right - left)) / 2 - left
    y = (height - (bottom - top)) / 2 - top
    shadow = tuple(c // 2 for c in image.getpixel((0, height - 1)))
    draw.text((x + 3, y + 4), text, fill=shadow, font=font)  # a shadow lifts the letters
    draw.text((x, y), text, fill=(255, 255, 255), font=font)
    return image


def _jpeg(image, name):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=84)
    return ContentFile(buffer.getvalue(), name=f"{slugify(name) or 'picture'}.jpg")


def listing_picture(title):
    """A 800x600 JPEG for a listing called `title`."""
    first, second = palette(title)
    image = _pattern(_gradient(LISTING_SIZE, first, second), title)
    return _jpeg(_letters(image, initials(title), 0.3), title)


def store_logo(name):
    """A square JPEG logo for a store called `name`: its initials on its colours."""
    first, second = palette(name)
    image = _pattern(_gradient(LOGO_SIZE, first, second), name)
    return _jpeg(_letters(image, initials(name), 0.42), f"{name}-logo")
