"""Stripe's form encoding (a[b][0][c]=x) decoded to nested data, and each endpoint's parameters
checked the way Stripe checks them: unknown parameters and wrong types are a 400 naming the param.

Uploads to files.stripe.com come as multipart/form-data instead (decode_multipart): the same
nested names, and the file itself as an Upload.
"""

import hashlib
from dataclasses import dataclass
from email.message import Message
from urllib.parse import parse_qsl

from stripe_sandbox.errors import InvalidRequest


def decode(query):
    """'metadata[a]=1&expand[0]=x' -> {'metadata': {'a': '1'}, 'expand': ['x']}"""
    return decode_pairs(parse_qsl(query or "", keep_blank_values=True))


def decode_pairs(pairs):
    """[('metadata[a]', '1'), ('expand[0]', 'x')] -> {'metadata': {'a': '1'}, 'expand': ['x']}"""
    root = {}
    for key, value in pairs:
        parts = _split(key)
        node = root
        for i, part in enumerate(parts[:-1]):
            if parts[i + 1] == "[]":  # a[]=x appends
                items = node.setdefault(part, [])
                if not isinstance(items, list):
                    raise InvalidRequest(f"Invalid array parameter: {key}", param=key)
                items.append(value)
                break
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidRequest(f"Invalid object parameter: {key}", param=key)
            node = child
        else:
            if parts[-1] == "[]" or isinstance(node.get(parts[-1]), dict | list):
                raise InvalidRequest(f"Invalid parameter: {key}", param=key)
            node[parts[-1]] = value
    return _lists(root)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart/form-data request: what its Content-Disposition and
    Content-Type said, and its bytes."""

    filename: str | None
    content_type: str
    content: bytes

    def fingerprint(self):
        """What an Idempotency-Key compares: the same bytes under the same name."""
        return {"filename": self.filename, "sha256": hashlib.sha256(self.content).hexdigest()}


def decode_multipart(body, content_type):
    """A multipart/form-data body (RFC 7578) as nested params; file parts become Uploads.

    Split on the boundary by hand rather than through a MIME parser so a file's bytes come back
    exactly as sent, whatever line endings or binary they hold."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not boundary:
        raise InvalidRequest("Invalid multipart/form-data request: no boundary in Content-Type.")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise InvalidRequest("Invalid multipart/form-data request: the body is not complete.")
    pairs = []
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n") or not section.endswith(b"\r\n"):
            raise InvalidRequest("Invalid multipart/form-data request: a part is malformed.")
        head, separator, content = section[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise InvalidRequest("Invalid multipart/form-data request: a part is malformed.")
        part = Message()
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                part[name.strip()] = value.strip()
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise InvalidRequest("Invalid multipart/form-data request: a part has no name.")
        filename = part.get_param("filename", header="content-disposition")
        if filename is None:
            try:
                pairs.append((name, content.decode("utf-8")))
            except UnicodeDecodeError:
                raise InvalidRequest(f"Invalid string: {name} is not UTF-8.", param=name) from None
        else:
            pairs.append(
                (
                    name,
                    Upload(
                        filename=filename or None,
                        # "" when the part names no type (the stripe SDK says octet-stream)
                        content_type=part.get_content_type() if part["content-type"] else "",
                        content=content,
                    ),
                )
            )
    return decode_pairs(pairs)


def _split(key):
    if "[" not in key:
        return [key]
    head, rest = key.split("[", 1)
    parts = [head]
    for piece in ("[" + rest).split("[")[1:]:
        piece = piece.rstrip("]")
        parts.append("[]" if piece == "" else piece)
    return parts


def _lists(value):
    """Dicts keyed 0..n (items[0][..]) become lists, as Stripe reads them."""
    if isinstance(value, dict):
        value = {k: _lists(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
        return value
    if isinstance(value, list):
        return [_lists(v) for v in value]
    return value


# --- Parameter specs ----------------------------------------------------------------------------


class Param:
    def __init__(self, required=False):
        self.required = required

    def check(self, value, name):
        return value


class Str(Param):
    def __init__(self, required=False, choices=None, max_length=5000):
        super().__init__(required)
        self.choices = choices
        self.max_length = max_length

    def check(self, value, name):
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid string: {value!r}", param=name)
        if self.choices and value not in self.choices:
            options = ", ".join(f"`{c}`" for c in self.choices)
            raise InvalidRequest(f"Invalid {name}: must be one of {options}", param=name)
        if len(value) > self.max_length:
            raise InvalidRequest(f"Invalid {name}: too long", param=name)
        return value


class Int(Param):
    def __init__(self, required=False, min=None, max=None):
        super().__init__(required)
        self.min = min
        self.max = max

    def check(self, value, name):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())
        ):
            raise InvalidRequest(f"Invalid integer: {value}", param=name)
        number = int(value)
        if self.min is not None and number < self.min:
            raise InvalidRequest(
                f"This value must be greater than or equal to {self.min}.",
                param=name,
                code="parameter_invalid_integer",
            )
        if self.max is not None and number > self.max:
            raise InvalidRequest(
                f"This value must be less than or equal to {self.max}.",
                param=name,
                code="parameter_invalid_integer",
            )
        return number


class Bool(Param):
    def check(self, value, name):
        if value in (True, "true"):
            return True
        if value in (False, "false"):
            return False
        raise InvalidRequest(f"Invalid boolean: {value}", param=name)


class Metadata(Param):
    def check(self, value, name):
        if value == "":
            return {}  # metadata= clears it
        if not isinstance(value, dict):
            raise InvalidRequest(f"Invalid hash: {value!r}", param=name)
        if len(value) > 50:
            raise InvalidRequest("Metadata can have at most 50 keys.", param=name)
        for key, item in value.items():
            if not isinstance(item, str):
                raise InvalidRequest(f"Invalid metadata value for {key}", param=f"{name}[{key}]")
            if len(key) > 40 or len(item) > 500:
                raise InvalidRequest(
                    "Metadata keys are at most 40 characters and values 500.",
                    param=f"{name}[{key}]",
                )
        return value


class Obj(Param):
    def __init__(self, fields, required=False):
        super().__init__(required)
        self.fields = fields

    def check(self, value, name):
        if not isinstance(value, dict):
            raise InvalidRequest(f"Invalid hash: {value!r}", param=name)
        return validate(value, self.fields, prefix=name)


class AnyObj(Param):
    """A hash whose inside the sandbox does not check (e.g. settings it does not model)."""

    def check(self, value, name):
        if not isinstance(value, dict):
            raise InvalidRequest(f"Invalid hash: {value!r}", param=name)
        return value


class File(Param):
    """A file sent as a file part of a multipart/form-data request (an Upload)."""

    def check(self, value, name):
        if not isinstance(value, Upload):
            raise InvalidRequest(
                f"Invalid {name}: send the file itself as a file part of a multipart/form-data "
                "request (https://stripe.com/docs/file-upload).",
                param=name,
            )
        return value


class List(Param):
    def __init__(self, item, required=False):
        super().__init__(required)
        self.item = item

    def check(self, value, name):
        if isinstance(value, dict):
            value = [value[k] for k in sorted(value, key=lambda k: int(k) if k.isdigit() else 0)]
        if not isinstance(value, list):
            raise InvalidRequest(f"Invalid array: {value!r}", param=name)
        return [self.item.check(v, f"{name}[{i}]") for i, v in enumerate(value)]


EXPAND = List(Str())
LIST_PARAMS = {
    "limit": Int(min=1, max=100),
    "starting_after": Str(),
    "ending_before": Str(),
    "expand": EXPAND,
    "created": Param(),
}


def validate(params, spec, prefix=""):
    """Check params against spec; return them with types converted. Raises InvalidRequest."""
    out = {}
    for name, value in params.items():
        full = f"{prefix}[{name}]" if prefix else name
        if name not in spec:
            raise InvalidRequest(f"Received unknown parameter: {full}", param=full)
        out[name] = spec[name].check(value, full)
    for name, param in spec.items():
        if param.required and name not in params:
            full = f"{prefix}[{name}]" if prefix else name
            raise InvalidRequest(
                f"Missing required param: {full}.", param=full, code="parameter_missing"
            )
    return out
