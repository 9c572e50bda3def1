"""Tiny one-page PDF documents, built by hand for speed (about 10 µs each).

PDF 1.4, two standard fonts (Helvetica, Helvetica-Bold, WinAnsiEncoding so that French
accents render), one uncompressed content stream, and a cross-reference table whose
offsets are exact. Everything before the content stream is constant, so only the
stream length and the xref position are computed per document.
"""

from __future__ import annotations

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_OBJECTS = (
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
    b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
)


def _prefix() -> tuple[bytes, list[int]]:
    out = bytearray(_HEADER)
    offsets = []
    for number, body in enumerate(_OBJECTS, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    return bytes(out), offsets


_PREFIX, _OFFSETS = _prefix()
_CONTENT_OFFSET = len(_PREFIX)
_XREF_HEAD = b"xref\n0 7\n0000000000 65535 f \n" + b"".join(
    b"%010d 00000 n \n" % offset for offset in _OFFSETS
) + b"%010d 00000 n \n" % _CONTENT_OFFSET


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def render(title: str, lines: list[str]) -> bytes:
    """A one-page A4 PDF: a bold title, then the lines (long lines are not wrapped)."""
    # Escape once for all lines, then turn the line breaks into PDF line moves.
    body = _escape("\n".join(lines)).replace("\n", ") Tj T* (")
    text = f"BT /F2 14 Tf 56 790 Td ({_escape(title)}) Tj /F1 10 Tf 14 TL 0 -10 Td T* ({body}) Tj ET"
    stream = text.encode("cp1252", errors="replace")
    content = b"6 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (len(stream), stream)
    xref_offset = _CONTENT_OFFSET + len(content)
    return b"".join((
        _PREFIX, content, _XREF_HEAD,
        b"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_offset,
    ))
