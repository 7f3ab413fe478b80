"""Which attachments are accepted, decided from real file heads built here, and how names are made
safe. No database: everything in messaging.files is pure."""

import gzip
import io
import random
import struct
import tarfile
import zipfile
import zlib

import pytest
from django.utils.http import content_disposition_header

from messaging.files import (
    ACCEPTED_TYPES,
    HEAD_BYTES,
    FileRejected,
    FileType,
    allowed_types_text,
    check_file,
    detect_type,
    human_size,
    safe_filename,
)
from messaging.models import Attachment

MB = 1024 * 1024
LIMIT = 16 * MB

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT_TYPE = "text/plain; charset=utf-8"


# --- Real file heads ----------------------------------------------------------------------------


def png_bytes():
    def chunk(kind, data):
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xdb\x00\x43\x00" + bytes(range(1, 65)) + b"\xff\xd9"
)
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x08free"
# 10-bit HEIC as some cameras write it; filetype 1.2 alone doesn't know the "heix" brand.
HEIX = b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heix" + b"\x00\x00\x00\x08free"
AVIF = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00\x00\x00\x08free"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
RTF = rb"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}} Hello}"
OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def zip_bytes(entries, *, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


CONTENT_TYPES_XML = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/"/>'
RELS_XML = b'<?xml version="1.0"?><Relationships/>'


def docx_bytes():
    return zip_bytes(
        [
            ("[Content_Types].xml", CONTENT_TYPES_XML),
            ("_rels/.rels", RELS_XML),
            ("word/document.xml", b"<w:document><w:body><w:p/></w:body></w:document>"),
        ]
    )


def xlsx_bytes():
    return zip_bytes(
        [
            ("[Content_Types].xml", CONTENT_TYPES_XML),
            ("_rels/.rels", RELS_XML),
            ("xl/workbook.xml", b"<workbook><sheets/></workbook>"),
        ]
    )


def odt_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # OpenDocument requires "mimetype" first and stored, which is what makes it recognisable.
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def head_of(data):
    return data[:HEAD_BYTES]


def check(name, data, *, max_bytes=LIMIT):
    return check_file(name=name, size=len(data), head=head_of(data), max_bytes=max_bytes)


def rejection(name, data, *, max_bytes=LIMIT):
    with pytest.raises(FileRejected) as caught:
        check(name, data, max_bytes=max_bytes)
    return caught.value.message


# --- Accepted content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (JPEG, "image/jpeg"),
        (png_bytes(), "image/png"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (HEIC, "image/heic"),
        (HEIX, "image/heic"),
        (PDF, "application/pdf"),
        (RTF, "application/rtf"),
        (zip_bytes([("brief.txt", b"Logo in blue, please.")]), "application/zip"),
        (docx_bytes(), DOCX_TYPE),
        (xlsx_bytes(), XLSX_TYPE),
        (odt_bytes(), "application/vnd.oasis.opendocument.text"),
    ],
    ids=["jpeg", "png", "gif", "webp", "heic", "heix", "pdf", "rtf", "zip", "docx", "xlsx", "odt"],
)
def test_accepted_formats_are_recognised_from_their_content(data, content_type):
    file_type = detect_type(head_of(data))

    assert file_type is not None
    assert file_type.content_type == content_type


def test_a_docx_whose_document_comes_after_many_other_entries_is_still_a_docx():
    # filetype only looks at the first five entries; some writers put metadata first.
    data = zip_bytes(
        [
            ("[Content_Types].xml", CONTENT_TYPES_XML),
            ("_rels/.rels", RELS_XML),
            ("docProps/app.xml", b"<Properties/>"),
            ("docProps/core.xml", b"<coreProperties/>"),
            ("docProps/custom.xml", b"<Properties/>"),
            ("customXml/item1.xml", b"<item/>"),
            ("word/document.xml", b"<w:document/>"),
        ]
    )

    assert detect_type(head_of(data)).content_type == DOCX_TYPE


def test_a_docx_whose_head_shows_no_word_entry_is_accepted_as_zip_and_keeps_its_name():
    # A large stored first entry pushes word/document.xml past the head.
    filler = random.Random(7).randbytes(HEAD_BYTES * 2)
    data = zip_bytes(
        [("[Content_Types].xml", filler), ("word/document.xml", b"<w:document/>")],
        compression=zipfile.ZIP_STORED,
    )

    name, file_type = check("Proof v2.docx", data)

    assert file_type.content_type == "application/zip"
    assert name == "Proof v2.docx"


def test_ole_file_naming_its_word_stream_is_a_word_97_document():
    directory_entry = (
        "Root Entry".encode("utf-16-le") + bytes(44) + "WordDocument".encode("utf-16-le")
    )
    data = OLE_HEADER + directory_entry + bytes(600)

    name, file_type = check("contract.doc", data)

    assert file_type.content_type == "application/msword"
    assert name == "contract.doc"


def test_ole_file_that_does_not_say_which_office_program_keeps_only_office_endings():
    data = OLE_HEADER + bytes(1024)
    file_type = detect_type(data)

    assert file_type is not None
    assert set(file_type.extensions) == {"doc", "xls", "ppt"}
    assert check("budget.xls", data)[0] == "budget.xls"
    assert check("slides.PPT", data)[0] == "slides.PPT"
    # An Outlook message or installer can't keep an ending Windows would run or open as such.
    assert check("mail.msg", data)[0] == "mail.msg.doc"
    assert check("setup.msi", data)[0] == "setup.msi.doc"


def test_ole_file_recognisable_as_a_windows_installer_is_rejected():
    msi_clsid = bytes.fromhex("84100c0000000000c000000000000046")
    root_entry = "Root Entry".encode("utf-16-le").ljust(64, b"\x00") + bytes(16) + msi_clsid
    data = OLE_HEADER + root_entry + bytes(600)

    message = rejection("brief.doc", data)

    assert "“brief.doc”" in message
    assert "Windows installer" in message


def test_utf8_text_with_accents_and_emoji_is_plain_text():
    data = "Crème brûlée for the café 🍮 — naïve façade, 价格, ζ\n".encode()

    name, file_type = check("menu.txt", data)

    assert file_type.content_type == TEXT_TYPE
    assert name == "menu.txt"


def test_text_cut_in_the_middle_of_a_character_at_the_head_boundary_is_text():
    data = ("a" * (HEAD_BYTES - 2) + "🍮 and more").encode()
    head = head_of(data)
    assert head.endswith(b"\xf0\x9f")  # the emoji is split by the head

    name, file_type = check_file(name="notes.md", size=len(data), head=head, max_bytes=LIMIT)

    assert file_type.content_type == TEXT_TYPE
    assert name == "notes.md"


def test_invalid_utf8_inside_the_head_is_not_text():
    data = ("a" * 100).encode() + b"\xf0\x9f" + ("b" * 100).encode()

    assert detect_type(data) is None


def test_text_in_a_windows_encoding_is_rejected_with_how_to_fix_it():
    data = "Produit;Prix\nCrème;4,50 €\n".encode("cp1252")

    message = rejection("prices.csv", data)

    assert message == (
        "“prices.csv” is text that is not saved as UTF-8. Save it as UTF-8 and send it again."
    )


def test_utf16_text_is_rejected_with_how_to_fix_it():
    data = "Hello".encode("utf-16")

    message = rejection("hello.txt", data)

    assert "UTF-16" in message
    assert "Save it as UTF-8" in message


def test_text_with_many_control_characters_is_not_text():
    data = b"looks like words\x01\x02\x03\x04 but is not" * 20

    assert detect_type(data) is None


def test_a_log_with_colour_codes_is_text():
    data = b"\x1b[32mINFO\x1b[0m order 12 paid\n\x1b[31mERROR\x1b[0m payout failed\n" * 50

    assert detect_type(data).content_type == TEXT_TYPE


@pytest.mark.parametrize(
    ("name", "data", "stored_name"),
    [
        ("deploy.sh", b"#!/bin/sh\nrm -rf /tmp/build\n", "deploy.sh.txt"),
        ("page.html", b"<!doctype html><script>alert(1)</script>", "page.html.txt"),
        # SVG is XML text that can carry script. Detected as text, it is stored and served as a
        # text/plain download under a .txt name, so no browser ever renders it as an image.
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "logo.svg.txt",
        ),
    ],
)
def test_scripts_html_and_svg_are_only_ever_plain_text(name, data, stored_name):
    stored, file_type = check(name, data)

    assert file_type.content_type == TEXT_TYPE
    assert stored == stored_name


@pytest.mark.parametrize(
    "data",
    [b"GIF is a format from 1987.\n", b"BMW price list\n", b"AC1000 spare parts\n"],
)
def test_text_starting_like_a_binary_signature_is_text(data):
    # filetype matches GIF on "GIF", BMP on "BM" and DWG on "AC10" alone.
    assert detect_type(data).content_type == TEXT_TYPE


# --- Rejected content ---------------------------------------------------------------------------


def windows_program():
    dos_header = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(44)
    dos_header += struct.pack("<I", 0x80)
    stub = b"This program cannot be run in DOS mode.\r\r\n$".ljust(0x80 - len(dos_header), b"\x00")
    return dos_header + stub + b"PE\x00\x00" + bytes(200)


def tar_bytes():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("brief.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "looks_like"),
    [
        ("report.pdf", windows_program(), "it looks like a Windows program"),
        ("photo.jpg", b"\x7fELF\x02\x01\x01\x00" + bytes(120), "it looks like a Linux program"),
        ("app.zip", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(99), "it looks like a Mac program"),
        ("files.zip", b"Rar!\x1a\x07\x01\x00" + bytes(64), "it looks like a RAR archive"),
        ("files.zip", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64), "it looks like a 7-Zip archive"),
        ("files.zip", gzip.compress(b"hello"), "it looks like a gzip archive"),
        ("files.zip", tar_bytes(), "it looks like a TAR archive"),
        ("photo.jpg", AVIF, "it looks like an image in a format we don't take (AVIF)"),
        (
            "scan.png",
            b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00" + bytes(60),
            "it looks like an image in a format we don't take (BMP)",
        ),
        (
            "voice.txt",
            b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00" + bytes(40),
            "it looks like an audio file",
        ),
    ],
    ids=["exe", "elf", "macho", "rar", "7z", "gzip", "tar", "avif", "bmp", "wav"],
)
def test_refused_formats_are_named_whatever_the_file_is_called(name, data, looks_like):
    message = rejection(name, data)

    assert message == (
        f"“{name}” is not a file type we accept: {looks_like}. Send {allowed_types_text()}."
    )


def test_random_binary_named_pdf_is_rejected():
    data = b"\x13\x37" + random.Random(42).randbytes(4096)

    message = rejection("statement.pdf", data)

    assert message == (
        f"“statement.pdf” is not a file type we accept. Send {allowed_types_text()}."
    )


def test_allowed_types_text_lists_every_group_we_accept():
    assert allowed_types_text() == (
        "images (JPEG, PNG, GIF, WebP, HEIC), PDF, plain text, Word, Excel, PowerPoint, "
        "OpenDocument and ZIP files"
    )


# --- Size ---------------------------------------------------------------------------------------


def test_empty_file_is_rejected():
    with pytest.raises(FileRejected) as caught:
        check_file(name="empty.txt", size=0, head=b"", max_bytes=LIMIT)

    assert caught.value.message.startswith("“empty.txt” is empty.")


def test_file_over_the_limit_is_rejected_with_its_size_and_the_limit():
    with pytest.raises(FileRejected) as caught:
        check_file(name="big.zip", size=int(17.2 * MB), head=PDF, max_bytes=LIMIT)

    assert caught.value.message == "“big.zip” is 17.2 MB; files can be at most 16 MB."


def test_file_just_over_the_limit_does_not_claim_to_be_the_limit():
    with pytest.raises(FileRejected) as caught:
        check_file(name="big.pdf", size=LIMIT + 1, head=PDF, max_bytes=LIMIT)

    assert caught.value.message == "“big.pdf” is more than 16 MB; files can be at most 16 MB."


def test_file_of_exactly_the_limit_is_accepted():
    head = PDF.ljust(HEAD_BYTES, b"\n")

    name, file_type = check_file(name="big.pdf", size=LIMIT, head=head, max_bytes=LIMIT)

    assert (name, file_type.content_type) == ("big.pdf", "application/pdf")


def test_head_that_is_not_the_start_of_the_file_is_a_programming_error():
    with pytest.raises(ValueError):
        check_file(name="a.pdf", size=HEAD_BYTES * 2, head=PDF, max_bytes=LIMIT)
    with pytest.raises(ValueError):
        check_file(name="a.pdf", size=10, head=PDF, max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (300, "300 bytes"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (512 * 1024, "512 KB"),
        (MB - 1, "1 MB"),
        (16 * MB, "16 MB"),
        (int(17.2 * MB), "17.2 MB"),
        (3 * 1024 * MB, "3 GB"),
    ],
)
def test_human_size(n, text):
    assert human_size(n) == text


# --- Names --------------------------------------------------------------------------------------


def pdf_type():
    return detect_type(PDF)


def text_type():
    return detect_type(b"plain words\n")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd.txt"),
        ("C:\\Users\\x\\evil.txt", "evil.txt"),
        ("..\\..\\windows\\win.ini", "win.ini.txt"),
        ("..／..／secret.txt", "secret.txt"),  # full-width solidus, a "/" after NFKC
        ("folder/", "file.txt"),
        (".htaccess", "htaccess.txt"),
        ("...", "file.txt"),
        ("", "file.txt"),
        ("notes", "notes.txt"),
        ("  my   report \t final .txt  ", "my report final.txt"),
        ('say "hi" <b>*now*?|.txt', "say hi bnow.txt"),
        ("ﬁnal ｒｅｐｏｒｔ.txt", "final report.txt"),
        ("rep\x00ort\x07.txt", "report.txt"),
        ("CON.txt", "_CON.txt"),
        ("Data.CSV", "Data.CSV"),
        ("changes.log.", "changes.log"),
    ],
)
def test_safe_filename(name, safe):
    assert safe_filename(name, file_type=text_type()) == safe


def test_header_injection_characters_are_removed_from_names():
    name = safe_filename('a"b\r\nSet-Cookie: session=1;\x85.pdf', file_type=pdf_type())

    assert name == "ab Set-Cookie session=1;.pdf"
    header = content_disposition_header(as_attachment=True, filename=name)
    assert "\r" not in header and "\n" not in header
    assert header == 'attachment; filename="ab Set-Cookie session=1;.pdf"'


def test_right_to_left_override_cannot_disguise_the_extension():
    # Shown as "invoicexe.pdf" in many programs, but really ends in ".exe".
    name = safe_filename("invoice\u202efdp.exe", file_type=pdf_type())

    assert name == "invoicefdp.exe.pdf"


def test_joiners_inside_emoji_and_names_are_kept():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"

    assert safe_filename(f"{family} trip.txt", file_type=text_type()) == f"{family} trip.txt"


@pytest.mark.parametrize(
    ("name", "data", "safe"),
    [
        ("invoice.exe", PDF, "invoice.exe.pdf"),
        ("Photo.JPEG", JPEG, "Photo.JPEG"),
        ("photo.jpg", JPEG, "photo.jpg"),
        ("photo.jpg", png_bytes(), "photo.jpg.png"),
        ("report.pdf", docx_bytes(), "report.pdf.docx"),
        ("archive.tar.gz", zip_bytes([("a.txt", b"a")]), "archive.tar.gz.zip"),
        ("IMG_0001.HEIC", HEIC, "IMG_0001.HEIC"),
    ],
)
def test_the_extension_is_made_to_match_the_content(name, data, safe):
    assert check(name, data)[0] == safe


def test_long_names_are_cut_to_120_characters_keeping_the_extension():
    kept = safe_filename("a" * 300 + ".pdf", file_type=pdf_type())
    appended = safe_filename("b" * 300, file_type=pdf_type())
    wrong_ending = safe_filename("c" * 100 + "." + "x" * 100, file_type=pdf_type())

    assert kept == "a" * 116 + ".pdf"
    assert appended == "b" * 116 + ".pdf"
    assert len(wrong_ending) == 120 and wrong_ending.endswith(".pdf")


def test_rejection_messages_name_the_file_by_its_cleaned_name():
    message = rejection("../../Downloads/setup\r\n.pdf", windows_program())

    assert message.startswith("“setup .pdf” is not a file type we accept")


# --- Fit with what the model stores -------------------------------------------------------------


def test_every_accepted_type_fits_the_attachment_columns():
    content_type_length = Attachment._meta.get_field("content_type").max_length
    name_length = Attachment._meta.get_field("name").max_length

    for file_type in ACCEPTED_TYPES:
        assert isinstance(file_type, FileType)
        assert len(file_type.content_type) <= content_type_length
        assert all(ext == ext.lower() and "." not in ext for ext in file_type.extensions)
        assert len(safe_filename("x" * 500, file_type=file_type)) <= min(120, name_length)
