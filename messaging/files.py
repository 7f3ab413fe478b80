"""Which files people may attach to messages, decided from the file's content.

The name's extension and the client's content type are whatever the sender says they are, so
neither is trusted: the type comes from the first bytes of the file (magic bytes via `filetype`,
plus our own check for plain text, which has none). The name is cleaned and its extension made to
match that type, so what a person downloads opens in the program the content is really for.

Only formats that a browser or desktop program opens as a document are accepted. Programs,
installers, archives other than ZIP, media and SVG (an image that can carry script) are not.
Anything that is text (scripts, HTML, SVG) is accepted but stored and served as plain text.
"""

import codecs
import unicodedata
from dataclasses import dataclass

import filetype
from filetype.types import archive as ft_archive
from filetype.types import document as ft_document
from filetype.types import image as ft_image

HEAD_BYTES = 8192  # how much of the start of a file detection needs

MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class FileType:
    content_type: str  # what we store and serve it as, e.g. "application/pdf"
    extensions: tuple[str, ...]  # allowed name endings, lowercase without dot; first is canonical
    label: str  # "PDF document", for people


class FileRejected(Exception):
    """A file a person tried to attach that we do not take; `message` tells them why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


JPEG = FileType("image/jpeg", ("jpg", "jpeg"), "JPEG image")
PNG = FileType("image/png", ("png",), "PNG image")
GIF = FileType("image/gif", ("gif",), "GIF image")
WEBP = FileType("image/webp", ("webp",), "WebP image")
HEIC = FileType("image/heic", ("heic", "heif"), "HEIC image")
PDF = FileType("application/pdf", ("pdf",), "PDF document")
TEXT = FileType("text/plain; charset=utf-8", ("txt", "csv", "md", "log"), "Text file")
RTF = FileType("application/rtf", ("rtf",), "Rich Text document")
DOC = FileType("application/msword", ("doc",), "Word 97–2003 document")
XLS = FileType("application/vnd.ms-excel", ("xls",), "Excel 97–2003 spreadsheet")
PPT = FileType("application/vnd.ms-powerpoint", ("ppt",), "PowerPoint 97–2003 presentation")
# An OLE compound file whose first 8 KB do not say which Office program wrote it. Other OLE files
# (Outlook .msg, Visio, installers we could not spot) end up here too, so only the three Office
# endings are allowed: the download then opens in Office, which refuses what it can't read.
OFFICE_97 = FileType("application/vnd.ms-office", ("doc", "xls", "ppt"), "Office 97–2003 document")
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ("docx",),
    "Word document",
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ("xlsx",),
    "Excel spreadsheet",
)
PPTX = FileType(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ("pptx",),
    "PowerPoint presentation",
)
ODT = FileType("application/vnd.oasis.opendocument.text", ("odt",), "OpenDocument text")
ODS = FileType(
    "application/vnd.oasis.opendocument.spreadsheet", ("ods",), "OpenDocument spreadsheet"
)
ODP = FileType(
    "application/vnd.oasis.opendocument.presentation", ("odp",), "OpenDocument presentation"
)
# Office and OpenDocument files are ZIP archives; when the first 8 KB don't show which one, the
# content is still served as a ZIP, but a name like "report.docx" keeps its ending so the download
# opens in the right program (which is no riskier: those types are accepted anyway).
ZIP = FileType(
    "application/zip", ("zip", "docx", "xlsx", "pptx", "odt", "ods", "odp"), "ZIP archive"
)

IMAGE_TYPES = (JPEG, PNG, GIF, WEBP, HEIC)
ACCEPTED_TYPES = (
    *IMAGE_TYPES,
    PDF,
    TEXT,
    RTF,
    DOC,
    XLS,
    PPT,
    OFFICE_97,
    DOCX,
    XLSX,
    PPTX,
    ODT,
    ODS,
    ODP,
    ZIP,
)

# filetype's own matchers for the binary formats we accept, most specific first (the Office and
# OpenDocument matchers must run before the ZIP one, as those files are ZIPs too). Matching only
# these, rather than `filetype.guess` over every known type, keeps a loose matcher for a format we
# refuse from hiding one we accept.
_ACCEPTED_MATCHERS = (
    (ft_image.Jpeg(), JPEG),
    (ft_image.Apng(), PNG),
    (ft_image.Png(), PNG),
    (ft_image.Gif(), GIF),
    (ft_image.Webp(), WEBP),
    (ft_image.Heic(), HEIC),
    (ft_archive.Pdf(), PDF),
    (ft_archive.Rtf(), RTF),
    (ft_document.Docx(), DOCX),
    (ft_document.Xlsx(), XLSX),
    (ft_document.Pptx(), PPTX),
    (ft_document.Odt(), ODT),
    (ft_document.Ods(), ODS),
    (ft_document.Odp(), ODP),
    (ft_archive.Zip(), ZIP),
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_LOCAL_HEADER = b"PK\x03\x04"
# CLSIDs of Windows Installer packages, patches and transforms, as stored in an OLE directory.
_INSTALLER_CLSIDS = tuple(
    bytes.fromhex(f"{first:02x}100c0000000000c000000000000046") for first in (0x84, 0x86, 0x82)
)
# Stream names (UTF-16) that say which Office program wrote an OLE compound file.
_OLE_STREAMS = (
    ("WordDocument".encode("utf-16-le"), DOC),
    ("Workbook".encode("utf-16-le"), XLS),
    ("Book\x00".encode("utf-16-le"), XLS),  # Excel 5/95; the NUL stops "Bookmarks" matching
    ("PowerPoint Document".encode("utf-16-le"), PPT),
)
_OOXML_FOLDERS = ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX))
_MACHO_SIGNATURES = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
)
_HEIC_BRANDS = {"heic", "heix"}  # 8-bit and 10-bit HEIC, as phones and cameras write them

_TEXT_CONTROLS_ALLOWED = {"\t", "\n", "\r", "\f", "\x1b"}  # ESC: colour codes in .log files

_NAME_FORBIDDEN = set('"\\/:*?<>|')
# Invisible format characters are dropped (a right-to-left override can make "exe.pdf" read as
# "fdp.exe"), except the joiners that Persian and Indic names and emoji sequences need.
_FORMAT_CHARS_KEPT = {"\u200c", "\u200d"}
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


def detect_type(head: bytes) -> FileType | None:
    """The file's type from its first bytes; None if it is not one we accept."""
    head = bytes(head[:HEAD_BYTES])
    if not head:
        return None
    if head.startswith(_OLE_SIGNATURE):
        return _ole_type(head)
    for matcher, file_type in _ACCEPTED_MATCHERS:
        if matcher.match(head) and _confirm(head, file_type):
            if file_type is ZIP:
                return _ooxml_type_from_entries(head) or ZIP
            return file_type
    if _is_heic(head):
        return HEIC
    if _is_utf8_text(head):
        return TEXT
    return None


def safe_filename(name: str, *, file_type: FileType) -> str:
    """A name safe to store and to put in Content-Disposition."""
    cleaned = _clean_name(name)
    stem, dot, extension = cleaned.rpartition(".")
    if not dot or extension.lower() not in file_type.extensions:
        stem, extension = cleaned, file_type.extensions[0]
    stem = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(". ")
    if not stem:
        stem = "file"
    if stem.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        stem = "_" + stem[: MAX_NAME_CHARS - len(extension) - 2]
    return f"{stem}.{extension}"


def check_file(*, name: str, size: int, head: bytes, max_bytes: int) -> tuple[str, FileType]:
    """(safe name, type) for an acceptable file; raises FileRejected with a clear message."""
    shown = _clean_name(name)
    head = bytes(head)
    if size <= 0:
        raise FileRejected(f"“{shown}” is empty. Check that you picked the right file.")
    if size > max_bytes:
        size_text, limit_text = human_size(size), human_size(max_bytes)
        if size_text == limit_text:
            size_text = f"more than {limit_text}"
        raise FileRejected(f"“{shown}” is {size_text}; files can be at most {limit_text}.")
    if len(head) != min(size, HEAD_BYTES):
        # The caller's mistake, not the person's: they could do nothing about it.
        raise ValueError(
            f"head must be the first {min(size, HEAD_BYTES)} bytes of the file, got {len(head)}"
        )
    file_type = detect_type(head)
    if file_type is None:
        raise FileRejected(_rejection_message(shown, head))
    return safe_filename(name, file_type=file_type), file_type


def allowed_types_text() -> str:
    """The accepted types in a phrase for people: "Send {this}."."""
    images = ", ".join(t.label.removesuffix(" image") for t in IMAGE_TYPES)
    return (
        f"images ({images}), PDF, plain text, Word, Excel, PowerPoint, OpenDocument and ZIP files"
    )


def human_size(n: int) -> str:
    """A size for people, in the 1024-based units file managers show: 16 MB, 512 KB, 300 bytes."""
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        # Move up a unit when rounding would show 1024 of this one.
        if round(value, 1) < 1024 or unit == "TB":
            return f"{round(value, 1):g} {unit}"
    raise AssertionError("unreachable")


def _confirm(head: bytes, file_type: FileType) -> bool:
    """Reject filetype's shortest matches where a text file could start with the same bytes."""
    if file_type is PNG:
        return head.startswith(_PNG_SIGNATURE)
    if file_type is GIF:
        return head.startswith(_GIF_SIGNATURES)
    return True


def _is_heic(head: bytes) -> bool:
    """HEIC brands filetype 1.2 doesn't know (it only knows "heic", not the 10-bit "heix")."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    box_end = min(int.from_bytes(head[0:4], "big"), len(head))
    brands = {head[8:12].decode("latin-1")}
    brands.update(head[i : i + 4].decode("latin-1") for i in range(16, box_end - 3, 4))
    return bool(brands & _HEIC_BRANDS)


def _ole_type(head: bytes) -> FileType | None:
    """Word, Excel or PowerPoint 97–2003, or an installer (refused); all share one container."""
    if any(clsid in head for clsid in _INSTALLER_CLSIDS):
        return None
    for stream_name, file_type in _OLE_STREAMS:
        if stream_name in head:
            return file_type
    # filetype's checks look at the first sector of the file's main stream instead.
    for matcher, file_type in (
        (ft_document.Doc(), DOC),
        (ft_document.Xls(), XLS),
        (ft_document.Ppt(), PPT),
    ):
        if matcher.match(head):
            return file_type
    return OFFICE_97


def _ooxml_type_from_entries(head: bytes) -> FileType | None:
    """Word, Excel or PowerPoint from the ZIP entry names in the head.

    filetype only looks at the first five entries; some writers put docProps and customXml
    before the document itself, so every entry header that is in the head is read here.
    """
    start = 0
    while (at := head.find(_ZIP_LOCAL_HEADER, start)) != -1:
        name_length = int.from_bytes(head[at + 26 : at + 28], "little")
        entry_name = head[at + 30 : at + 30 + name_length]
        for folder, file_type in _OOXML_FOLDERS:
            if entry_name.startswith(folder):
                return file_type
        start = at + 4
    return None


def _text_traits(head: bytes) -> tuple[bool, bool]:
    """(decodes as UTF-8, has few control characters) for a head without NUL bytes."""
    try:
        # Not final: the head may end part-way through a character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        utf8 = True
    except UnicodeDecodeError:
        text = head.decode("cp1252", errors="replace")
        utf8 = False
    controls = sum(
        1
        for char in text
        if unicodedata.category(char) == "Cc" and char not in _TEXT_CONTROLS_ALLOWED
    )
    return utf8, controls * 100 <= len(text)


def _is_utf8_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    utf8, few_controls = _text_traits(head)
    return utf8 and few_controls


def _rejection_message(shown: str, head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return f"“{shown}” is text saved as UTF-16. Save it as UTF-8 and send it again."
    if b"\x00" not in head:
        utf8, few_controls = _text_traits(head)
        if not utf8 and few_controls:
            return (
                f"“{shown}” is text that is not saved as UTF-8. Save it as UTF-8 and send it again."
            )
    looks_like = _what_it_looks_like(head)
    reason = f": it looks like {looks_like}" if looks_like else ""
    return f"“{shown}” is not a file type we accept{reason}. Send {allowed_types_text()}."


def _what_it_looks_like(head: bytes) -> str | None:
    """What a refused file seems to be, so the person understands why it was refused."""
    if head.startswith(b"MZ"):
        return "a Windows program"
    if head.startswith(b"\x7fELF"):
        return "a Linux program"
    if head.startswith(_MACHO_SIGNATURES):
        return "a Mac program"
    if head.startswith(b"\xca\xfe\xba\xbe"):
        return "a program"  # a universal Mac program or a Java class: both are code
    if head.startswith(_OLE_SIGNATURE):
        return "a Windows installer"  # the only OLE file _ole_type refuses
    kind = filetype.guess(head)
    if kind is None:
        return None
    named = {
        "rar": "a RAR archive",
        "7z": "a 7-Zip archive",
        "tar": "a TAR archive",
        "gz": "a gzip archive",
        "bz2": "a bzip2 archive",
        "xz": "an XZ archive",
        "zst": "a Zstandard archive",
        "cab": "a Windows cabinet archive",
        "deb": "a software package",
        "rpm": "a software package",
        "crx": "a browser extension",
        "wasm": "a WebAssembly program",
        "swf": "a Flash file",
        "sqlite": "a database",
    }
    if kind.extension in named:
        return named[kind.extension]
    if kind.mime.startswith("image/"):
        return f"an image in a format we don't take ({kind.extension.upper()})"
    if kind.mime.startswith("audio/"):
        return "an audio file"
    if kind.mime.startswith("video/"):
        return "a video"
    if kind.mime.startswith("font/") or kind.extension in {"woff", "woff2", "ttf", "otf", "eot"}:
        return "a font"
    return f"a {kind.extension.upper()} file"


def _clean_name(name: str) -> str:
    """The name's last part without characters that are trouble in headers or file systems."""
    # Normalise first: NFKC turns a full-width "／" into "/", which must then count as a folder.
    name = unicodedata.normalize("NFKC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Whitespace, including newlines that could split a header, becomes single spaces.
    name = " ".join(name.split())
    name = "".join(
        char
        for char in name
        if char not in _NAME_FORBIDDEN
        and unicodedata.category(char) not in {"Cc", "Cs"}
        and (unicodedata.category(char) != "Cf" or char in _FORMAT_CHARS_KEPT)
    )
    name = " ".join(name.split())
    # No hidden files; Windows also drops trailing dots and spaces, which would change the name.
    name = name.lstrip(". ").rstrip(". ")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and len(extension) <= 10:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(". ") + "." + extension
        else:
            name = name[:MAX_NAME_CHARS].rstrip(". ")
    return name or "file"
