"""One rule for every image people upload (listing photos, store logos): a size limit, a format
browsers show, and a pixel limit (a small file can unpack to a huge bitmap and exhaust memory).

`image_problem()` says what is wrong in words for the uploader; `validate_image` is the same
check as a validator for model fields, forms and serializers, so the admin, the pages and the API
give the same answer. Services call `image_problem()` themselves: they are the authority.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image

FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP"}
NOT_AN_IMAGE = "Upload a JPEG, PNG, GIF or WebP image."


def _megabytes(size):
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def image_problem(file):
    """What is wrong with an uploaded image, or None when it may be stored."""
    limit = settings.BAZAAR_MAX_IMAGE_BYTES
    if file.size > limit:
        return (
            f"Images can be at most {_megabytes(limit)} MB; this one is {_megabytes(file.size)} MB."
        )
    try:
        file.seek(0)
        with Image.open(file) as image:
            kind, (width, height) = image.format, image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return NOT_AN_IMAGE
    finally:
        file.seek(0)
    if kind not in FORMATS:
        return NOT_AN_IMAGE
    if width * height > settings.BAZAAR_MAX_IMAGE_PIXELS:
        megapixels = settings.BAZAAR_MAX_IMAGE_PIXELS // 1_000_000
        return f"Images can be at most {megapixels} megapixels; this one is {width}×{height}."
    return None


def validate_image(file):
    """image_problem() as a Django validator. A file already stored (a model's saved image) was
    checked when it came in and is not read back from storage on every save."""
    if not file or getattr(file, "_committed", False):
        return
    problem = image_problem(file)
    if problem:
        raise ValidationError(
            problem, code="image_rule"
        )  # not "invalid_image": forms would swap in their own text
