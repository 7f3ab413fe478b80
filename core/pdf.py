"""A plain-text PDF, for documents Bazaar hands to others (chargeback evidence for Stripe, which
takes PDF, JPEG or PNG only). Lines of text on Letter pages in Helvetica, wrapped and paginated;
nothing else, so no dependency is needed for it.

Text is written in PDF's WinAnsiEncoding: characters outside it become "?".
"""

import textwrap

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, in points
MARGIN = 54
FONT_SIZE = 10
LEADING = 13
WRAP = 100  # characters per line at 10 pt Helvetica across the text width, conservatively
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LEADING


def _escape(text):
    encoded = text.encode("cp1252", errors="replace")
    return (
        encoded.replace(b"\\", b"\\\\")
        .replace(b"(", b"\\(")
        .replace(b")", b"\\)")
        .replace(b"\r", b"")
    )


def _wrapped(lines):
    for line in lines:
        if not line.strip():
            yield ""
            continue
        yield from textwrap.wrap(line, WRAP, replace_whitespace=True, drop_whitespace=True) or [""]


def text_pdf(*, title, lines):
    """The PDF's bytes: `title` in bold on the first page, then `lines`, wrapped."""
    body = list(_wrapped(lines))
    pages = [
        body[i : i + LINES_PER_PAGE - 2] for i in range(0, max(len(body), 1), LINES_PER_PAGE - 2)
    ]
    objects = []  # each object's bytes, numbered from 1

    def add(content):
        objects.append(content)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    page_ids = []
    for number, page_lines in enumerate(pages, start=1):
        y = PAGE_HEIGHT - MARGIN
        stream = [b"BT"]
        heading = title if number == 1 else f"{title} (page {number} of {len(pages)})"
        stream.append(b"/F2 12 Tf %d %d Td (%s) Tj" % (MARGIN, y, _escape(heading)))
        stream.append(b"/F1 %d Tf %d TL T* T*" % (FONT_SIZE, LEADING))
        for line in page_lines:
            stream.append(b"(%s) Tj T*" % _escape(line))
        stream.append(b"ET")
        content = b"\n".join(stream)
        content_id = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_id, PAGE_WIDTH, PAGE_HEIGHT, font, bold, content_id)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)
