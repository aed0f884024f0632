"""Private: safe XML parsing for the CAP codec, on the standard library's expat only.

The parser refuses any DOCTYPE (so no DTD, no entity declaration, no entity expansion and no
external entity or DTD can ever be loaded), never resolves anything over a network or a file
system, and bounds the input size, the element depth and the number of elements. It builds a
minimal element tree of :class:`Node` objects; nothing else of the document survives.
"""

from __future__ import annotations

import codecs
import contextlib
import html.entities
import re
import xml.parsers.expat as expat
from typing import NoReturn

import attrs

from geotarget._validate import charset

#: The largest document accepted, in bytes (4 MiB; the largest real CAP seen is 0.9 MB).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
#: The deepest element nesting accepted (CAP needs 5; XML signatures need about 8).
MAX_DEPTH = 32
#: The most elements accepted in one document.
MAX_ELEMENTS = 100_000
#: The longest namespace name (URI) accepted, in characters. expat writes a prefixed name out
#: whole as its namespace name and local name, so a long namespace bound to a short prefix
#: would cost its length at every element and attribute naming it: a document of a few
#: hundred kilobytes would cost gigabytes. Real namespace names are tens of characters (CAP's
#: is 36, XML-DSig's 34).
MAX_NAMESPACE_CHARS = 256


#: The most characters of a name taken from the document (an element's or attribute's name, a
#: prefix, a namespace) that a message or a path repeats: a name may be megabytes long.
NAME_LIMIT = 64


def cut(name: str) -> str:
    """``name`` as a message shows it: at most :data:`NAME_LIMIT` characters, then its length."""
    if len(name) <= NAME_LIMIT:
        return name
    return f"{name[:NAME_LIMIT]}… ({len(name):,} characters)"


class Refused(Exception):
    """The document was refused before or while parsing; the message says why."""


class Node:
    """One element: namespace, local name, attributes, children and text pieces."""

    __slots__ = ("attrs", "children", "name", "ns", "parts")

    def __init__(self, ns: str, name: str, attrs: dict[str, str]) -> None:
        self.ns = ns
        self.name = name
        self.attrs = attrs
        self.children: list[Node] = []
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """The element's own character data (not its children's)."""
        return "".join(self.parts)


def _refuse_dtd(name: object = None, *_args: object) -> NoReturn:
    if isinstance(name, str) and name.lower() == "html":
        raise Refused(_html_page("<!DOCTYPE html>"))
    raise Refused(
        "DOCTYPE declarations are refused: geotarget reads no DTD and expands no entity, "
        "so entity-expansion (billion laughs) and external-entity (XXE) attacks cannot work"
    )


def _html_page(shown: str) -> str:
    """Why a document that is an HTML page is refused: what it is, and what to read instead.

    A feed's URL may answer with a web page instead of its CAP document (a server's error
    page, a proxy's or captive portal's login page), and that page saved or passed on reaches
    the reader: it is named as such, rather than as a DOCTYPE (which reads as an attack) or
    as the first tag HTML leaves unclosed.
    """
    return (
        f"the document is an HTML page, not a CAP alert: it starts with {shown} (a web "
        "server's error or login page answered in place of the CAP document?); CAP 1.2 is "
        "XML whose root element is <alert>: fetch the CAP document itself"
    )


#: How an HTML page starts, as bytes in an ASCII-based encoding: an optional byte-order mark,
#: XML declaration and comments, then ``<!DOCTYPE html`` or an ``<html>`` tag, in any case.
_HTML_HEAD = re.compile(
    rb"(?:\xef\xbb\xbf)?[ \t\r\n]*(?:<\?xml[^>]{0,256}\?>[ \t\r\n]*)?"
    rb"(?:<!--(?:[^-]|-(?!->)){0,4096}-->[ \t\r\n]*){0,8}"
    rb"<(!doctype[ \t\r\n]+html|html)(?=[ \t\r\n/>])",
    re.IGNORECASE,
)


#: XML 1.0 §2.8, production VersionNum: what an XML declaration's version may say.
_VERSION = re.compile(r"1\.[0-9]+")


def _check_version(version: str | None, _encoding: str | None, _standalone: int) -> None:
    """Refuse an XML declaration whose version is no XML 1.x one (expat accepts any text).

    XML 1.0 §2.8 reads a 1.x version other than 1.0 as 1.0; ``2.0`` or ``abc`` is not
    well-formed.
    """
    if version is not None and not _VERSION.fullmatch(version):
        raise Refused(
            f"not well-formed XML: the XML declaration says version={cut(version)!r}, but XML "
            "1.0 §2.8 (VersionNum) writes '1.' and digits: declare version=\"1.0\""
        )


def _refuse_entity(*_args: object) -> NoReturn:
    raise Refused("entity declarations and external entities are refused")


#: The encoding declaration of an XML declaration (XML 1.0 production EncodingDecl), in the
#: ASCII-compatible form a byte-level prescan can see.
_DECLARED = re.compile(
    rb"(?:\xef\xbb\xbf)?<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*[\"'][^\"']*[\"'][ \t\r\n]+"
    rb"encoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']"
)


#: Declared encodings expat decodes itself (XML 1.0 §4.3.3 names, compared upper-case); a
#: document in any other character encoding is decoded by Python's codec before parsing. Not
#: US-ASCII, whose stray bytes expat reports as an "invalid token" without naming them, nor
#: UTF-16, whose decoder in expat pairs a lone high surrogate with the unit after it (reading
#: ``<D800>1`` as U+10031): Python's codecs refuse both, naming the bytes.
_EXPAT_NATIVE = frozenset({"UTF-8", "ISO-8859-1"})

#: XML 1.0 Appendix F: the first bytes of a document that starts with ``<`` and has no
#: byte-order mark, the encoding they show, and the Python codec that reads it, in the order
#: they are tried. expat finds UTF-16 by a first ``<`` alone (declaration or not) but not UTF-32
#: (it read those as an "invalid token").
_SHAPES = (
    (b"\x00\x00\x00<", "UTF-32BE", "utf-32-be"),
    (b"<\x00\x00\x00", "UTF-32LE", "utf-32-le"),
    (b"\x00<", "UTF-16BE", "utf-16-be"),
    (b"<\x00", "UTF-16LE", "utf-16-le"),
)


#: Byte-order marks (XML 1.0 Appendix F), longest first: each names its encoding family.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32", "utf-32"),
    (codecs.BOM_UTF32_BE, "UTF-32", "utf-32"),
    (codecs.BOM_UTF8, "UTF-8", "utf-8"),
    (codecs.BOM_UTF16_LE, "UTF-16", "utf-16"),
    (codecs.BOM_UTF16_BE, "UTF-16", "utf-16"),
)
_DECLARED_TEXT = re.compile(
    r"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*[\"'][^\"']*[\"'][ \t\r\n]+"
    r"encoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']"
)


def bom_conflict(raw: bytes) -> tuple[str, str, str] | None:
    """``(mark, codec, declared)`` when a byte-order mark contradicts the declared encoding.

    A byte-order mark names the encoding (XML 1.0 Appendix F); an encoding declaration naming
    another one is a fatal error (XML 1.0 §4.3.3: "It is a fatal error for an entity including
    an encoding declaration to be presented to the XML processor in an encoding other than
    that named in the declaration"). ``mark`` is the mark's encoding as people name it
    (``UTF-8``), ``codec`` the Python codec that decodes the document as the mark says. None
    without a mark, without a declaration, or when they agree (``UTF-16`` agrees with either
    UTF-16 mark, ``UTF-16LE`` with the little-endian one only; a name Python does not know is
    refused elsewhere).
    """
    marked = next(((n, c) for mark, n, c in _BOMS if raw.startswith(mark)), None)
    if marked is None:
        return None
    name, codec = marked
    head = raw[: 4 * 256].decode(codec, "ignore").lstrip("\ufeff")
    m = _DECLARED_TEXT.match(head)
    if m is None:
        return None
    declared = m.group(1)
    try:
        family = codecs.lookup(codec_name(declared)).name
    except LookupError:
        return None
    endian = "-le" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF32_LE)) else "-be"
    if family == codec or family in (codec + endian, codec + "-sig"):  # utf-16-le, utf-8-sig
        return None
    return name, codec, declared


def _refuse_bom_conflict(raw: bytes) -> None:
    found = bom_conflict(raw)
    if found is not None:
        name, _, declared = found
        raise Refused(
            f"the document starts with a {name} byte-order mark but its XML declaration says "
            f"encoding={declared!r}: XML 1.0 §4.3.3 makes a declaration that contradicts the "
            f"document's encoding a fatal error (declare {name!r}, or save the document "
            "without the mark in the encoding it declares); it can be read as the mark says "
            "(loads_lenient repairs this)"
        )


#: Names and aliases the IANA character-set registry gives encodings that Python's codecs
#: implement but know by other names only, by their letters and digits in lower case (as the
#: registry compares them), with the Python codec. XML 1.0 §4.3.3 recommends the registered
#: names in an encoding declaration, and writers use them: Java declares ``windows-31j`` for
#: its MS932 (Japanese), .NET ``windows-874`` for Thai and ``iso-8859-8-i`` for Hebrew. The
#: ``-i`` and ``-e`` forms of ISO-8859-6 and -8 differ from the plain ones only in how a
#: display orders the text, not in its bytes.
_IANA_ONLY = {
    **dict.fromkeys(("windows31j", "cswindows31j"), "cp932"),
    **dict.fromkeys(("windows874", "cswindows874"), "cp874"),
    **dict.fromkeys(("iso88596e", "csiso88596e", "iso88596i", "csiso88596i"), "iso8859-6"),
    **dict.fromkeys(("iso88598e", "csiso88598e", "iso88598i", "csiso88598i"), "iso8859-8"),
    **dict.fromkeys(("ksc56011989", "ksc5601", "isoir149", "csksc56011987", "cseuckr"), "euc_kr"),
    **dict.fromkeys(("gb231280", "csgb2312"), "gb2312"),
    **dict.fromkeys(("windows936", "csgbk"), "gbk"),
    "csgb18030": "gb18030",
    "csbig5hkscs": "big5hkscs",
    **dict.fromkeys(("extendedunixcodepackedformatforjapanese", "cseucpkdfmtjapanese"), "euc_jp"),
    **dict.fromkeys(("mac", "csmacintosh"), "mac-roman"),
    **dict.fromkeys(("latin9", "csiso885915"), "iso8859-15"),
    "csiso885913": "iso8859-13",
    "csiso885914": "iso8859-14",
    "csiso885916": "iso8859-16",
    **{f"cswindows{page}": f"cp{page}" for page in range(1250, 1259)},
    "cskoi8u": "koi8-u",
    "cstis620": "tis-620",
    "csiso2022jp2": "iso2022_jp_2",
    "cshproman8": "hp-roman8",
    **dict.fromkeys(("ibm00858", "ccsid00858", "cp00858", "csibm00858"), "cp858"),
    **dict.fromkeys(("ibm01140", "ccsid01140", "cp01140", "csibm01140"), "cp1140"),
    "csutf8": "utf-8",
    "csutf16": "utf-16",
    "csutf32": "utf-32",
}


def codec_name(name: str) -> str:
    """The name Python's codecs know a declared encoding by: ``name``, or its codec's.

    ``name`` itself when Python knows it; the codec of an IANA-registered name Python does
    not know (:data:`_IANA_ONLY`: ``Windows-31J`` is ``cp932``); else ``name``, for the
    lookup to fail.
    """
    try:
        codecs.lookup(name)
    except LookupError:
        return _IANA_ONLY.get(re.sub(r"[^0-9a-z]", "", name.lower()), name)
    return name


def _known_encoding(name: str) -> codecs.CodecInfo:
    """The codec of a declared encoding name, or :class:`Refused` saying what is wrong with it.

    A name neither Python nor the IANA registry (:func:`codec_name`) knows, a bytes-to-bytes
    codec (``hex``) or a pseudo-encoding (``idna``, ``utf-7``) is refused: it would otherwise
    surface as a LookupError, ValueError or UnicodeError from inside the parser.
    """
    name, declared = codec_name(name), name
    try:
        codecs.lookup(name)
    except LookupError:
        raise Refused(
            f"the declared encoding {declared!r} is not a known character encoding (write CAP "
            "in UTF-8)"
        ) from None
    info = charset(name)  # the positions files' rule too (geotarget._validate.NOT_CHARSETS)
    if info is None:
        raise Refused(
            f"the declared encoding {declared!r} is not a character encoding a document can be "
            "written in (write CAP in UTF-8)"
        )
    return info


#: How every XML declaration starts, in the ASCII bytes an ASCII-based encoding writes it in.
_ASCII_HEAD = b"<?xml"


def _check_declared_encoding(raw: bytes) -> tuple[str | None, str] | None:
    """``(codec, how)``: the Python codec to decode ``raw`` with first (None: expat decodes it).

    ``how`` says what names the encoding, for errors: ``"declared"``, ``"mark"`` (a byte-order
    mark) or ``"shape"`` (the first bytes, XML 1.0 Appendix F). None without any of them.

    expat decodes UTF-8 and ISO-8859-1 itself (by those names only) and, for any other name,
    asks Python's codecs for a *single-byte* map: so a common alias such as ``utf8``, a
    multi-byte encoding (Shift_JIS, EUC-KR, Big5, GB2312) or a stateful one (ISO-2022-JP) would
    fail on the first non-ASCII character of a well-formed document. Those, UTF-16 and UTF-32
    (by their mark or their first bytes) and US-ASCII are decoded by Python's codec instead,
    which refuses what is not valid in them, and so is a document in EBCDIC (its first bytes
    ``<?xm`` in EBCDIC, XML 1.0 Appendix F) in the code page it declares. A declaration that
    the document's own bytes
    contradict is refused (XML 1.0 §4.3.3), as is a name that is no character encoding
    (:func:`_known_encoding`).
    """
    for mark, _, codec in _BOMS:
        if codec != "utf-8" and raw.startswith(mark):
            _declared_in(raw, codec)  # a contradicting one is refused by bom_conflict
            return codec, "mark"  # Python's utf-16 and utf-32 read the mark and drop it
    for shape, name, codec in _SHAPES:
        if raw.startswith(shape):
            declared = _declared_in(raw, codec)
            family = codec.rpartition("-")[0]  # utf-16 or utf-32
            if declared is not None and declared.name not in (codec, family):
                raise Refused(
                    f"the document is written in {name} (its first bytes are "
                    f"{' '.join(f'{b:02X}' for b in raw[:4])}, XML 1.0 Appendix F) but its XML "
                    f"declaration says encoding={declared.declared!r}: XML 1.0 §4.3.3 makes a "
                    f"declaration that contradicts the document's encoding a fatal error "
                    f"(declare {family.upper()!r})"
                )
            return codec, "shape"
    if raw.startswith(_EBCDIC_HEAD):
        return _ebcdic(raw), "declared"
    m = _DECLARED.match(raw)
    if m is None:
        return None
    name = m.group(1).decode("ascii")
    info = _known_encoding(name)
    if info.name.startswith(("utf-16", "utf-32")):
        try:
            raw.decode("utf-8")
            repairable = " (loads_lenient repairs this)"  # read as UTF-8, which it is
        except UnicodeDecodeError:
            repairable = ""
        raise Refused(
            f"the XML declaration says encoding={name!r}, but the document is not written in "
            "it: its first bytes '<?xml' are single bytes, as UTF-8 and other ASCII-based "
            f"encodings write them, not the units of {name} (XML 1.0 §4.3.3 makes a declaration "
            "that contradicts the document's encoding a fatal error; a .NET StringWriter "
            "declares utf-16 whatever encoding the text is saved in): declare the encoding "
            'the document is saved in, e.g. <?xml version="1.0" encoding="UTF-8"?>' + repairable
        )
    if _ASCII_HEAD.decode(info.name, "replace") != _ASCII_HEAD.decode("ascii"):
        # XML 1.0 Appendix F: '<?xml' in ASCII bytes shows an ASCII-based encoding; an EBCDIC
        # code page (cp037, cp500, cp1140...) writes it 4C 6F A7 94 93.
        written = _ASCII_HEAD.decode("ascii").encode(info.name, "replace")
        raise Refused(
            f"the XML declaration says encoding={name!r}, but the document is not written in "
            f"it: its first bytes '<?xml' are ASCII, which {name} writes otherwise (as "
            f"{' '.join(f'{b:02X}' for b in written)}; "
            "XML 1.0 §4.3.3 and Appendix F make a declaration that contradicts the document's "
            "encoding a fatal error): declare the encoding the document is saved in, e.g. "
            '<?xml version="1.0" encoding="UTF-8"?>'
        )
    return None if name.upper() in _EXPAT_NATIVE else info.name, "declared"


#: XML 1.0 Appendix F: ``<?xm`` as EBCDIC writes it (the same in its code pages), a document
#: whose declaration names which one.
_EBCDIC_HEAD = b"\x4c\x6f\xa7\x94"


def _ebcdic(raw: bytes) -> str:
    """The Python codec of a document whose first bytes are EBCDIC's ``<?xm``: its declared one.

    XML 1.0 Appendix F: such a document is read as EBCDIC until its encoding declaration,
    which names the code page (``cp500``, ``cp037``, ``cp1140``...). A declaration naming an
    encoding that does not write ``<?xml`` so (an ASCII-based one) contradicts the bytes.
    """
    # (The declaration's characters are the same in every EBCDIC code page but '"', which
    # Turkish cp1026 writes elsewhere.)
    m = next(
        (m for page in ("cp037", "cp1026") if (m := _DECLARED_TEXT.match(raw[:256].decode(page)))),
        None,
    )
    shown = " ".join(f"{b:02X}" for b in raw[:4])
    if m is None:
        raise Refused(
            f"the document's first bytes {shown} are '<?xm' in EBCDIC (XML 1.0 Appendix F), "
            "but no encoding declaration follows to name its code page: declare it, e.g. "
            '<?xml version="1.0" encoding="cp500"?>, or better write UTF-8'
        )
    info = _known_encoding(m.group(1))
    if _ASCII_HEAD.decode("ascii").encode(info.name, "replace") != raw[:5]:
        raise Refused(
            f"the document's first bytes {shown} are '<?xm' in EBCDIC (XML 1.0 Appendix F), "
            f"but its XML declaration says encoding={m.group(1)!r}, which writes them "
            "otherwise: XML 1.0 §4.3.3 makes a declaration that contradicts the document's "
            "encoding a fatal error (declare its EBCDIC code page, e.g. cp500, or better write "
            "UTF-8)"
        )
    return info.name


def wide_declared_in_single_bytes(raw: bytes) -> str | None:
    """The declared name when ``raw`` declares UTF-16 or UTF-32 but is written in single bytes.

    Without a byte-order mark, a declaration whose ``<?xml`` is in single bytes (as UTF-8
    writes it) contradicts a declared UTF-16 or UTF-32 (XML 1.0 §4.3.3): a .NET
    ``StringWriter`` declares utf-16 whatever encoding the text is then saved in. None
    otherwise.
    """
    if not raw.startswith(_ASCII_HEAD):
        return None
    m = _DECLARED.match(raw)
    if m is None:
        return None
    name = m.group(1).decode("ascii")
    try:
        family = codecs.lookup(codec_name(name)).name
    except LookupError:
        return None
    return name if family.startswith(("utf-16", "utf-32")) else None


@attrs.frozen
class _Declared:
    declared: str  # as written
    name: str  # Python's codec name


def _declared_in(raw: bytes, codec: str) -> _Declared | None:
    """The encoding the XML declaration of ``raw`` (in ``codec``) names; None without one."""
    head = raw[: 4 * 256].decode(codec, "ignore").lstrip("\ufeff")
    m = _DECLARED_TEXT.match(head)
    if m is None:
        return None
    return _Declared(m.group(1), _known_encoding(m.group(1)).name)


def as_utf8(raw: bytes) -> bytes:
    """``raw`` (a document :func:`parse` accepted) as UTF-8, its XML declaration saying so.

    The same characters, decoded as :func:`parse` decodes them (the declared encoding, a
    byte-order mark or the first bytes; UTF-8 by default), without a byte-order mark. For
    parsers that know fewer encoding names than Python's codecs: libxml2 refuses names
    Python's standard library writes in declarations (``latin-1``, ``utf_8``) and others
    (``mac-roman``, ``cp437``), and decodes some encodings otherwise. What an XML signature
    covers is the document's canonical form, in UTF-8 whatever the encoding it was sent in
    (Canonical XML 1.0 §2.1), so it verifies over either bytes alike.
    """
    found = _check_declared_encoding(raw)
    codec = None if found is None else found[0]
    if codec is None:  # what expat decodes itself: UTF-8, or ISO-8859-1 by that name
        m = _DECLARED.match(raw)
        latin = m is not None and m.group(1).decode("ascii").upper() == "ISO-8859-1"
        codec = "latin-1" if latin else "utf-8-sig"
    text = raw.decode(codec).lstrip("\ufeff")  # (parse has decoded it: it decodes)
    declared = _DECLARED_TEXT.match(text)
    if declared is not None:
        text = text[: declared.start(1)] + "UTF-8" + text[declared.end(1) :]
    return text.encode("utf-8")


#: The first bytes of containers a CAP document arrives wrapped in, and what to do.
_CONTAINERS = (
    (b"\x1f\x8b", "gzip-compressed (it starts with the gzip bytes 1F 8B, as an HTTP body saved "
     "with its Content-Encoding: gzip does)", "decompress it first"),
    (b"PK\x03\x04", "a ZIP archive (it starts with the bytes 'PK' 03 04)",
     "extract the CAP document from it first"),
)  # fmt: skip


def _refuse_not_xml(raw: bytes) -> None:
    """Refuse compressed data and JSON, which expat reports only as an "invalid token".

    The first bytes say what a document is when it is no XML at all: gzip's and ZIP's magic
    numbers, or a JSON object or array (some services serve alerts as JSON).
    """
    for magic, what, remedy in _CONTAINERS:
        if raw.startswith(magic):
            raise Refused(f"the document is not XML: it is {what}; {remedy}")
    head = raw[:64].lstrip(b" \t\r\n")
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:].lstrip(b" \t\r\n")
    if head[:1] in (b"{", b"["):
        raise Refused(
            f"the document is not XML: it starts with {head[:1].decode()!r}, as JSON does "
            f"(got {head[:24].decode('utf-8', 'replace')!r}); CAP 1.2 is XML, starting with "
            "<alert> or an XML declaration"
        )


def refuse_oversize(data: object) -> None:
    """Refuse a document certainly larger than :data:`MAX_DOCUMENT_BYTES`, before any work.

    By its length alone, in constant time: a ``str`` of more characters than the limit has at
    least as many bytes in UTF-8, and the bytes of a bytes-like object are counted without
    copying them. (A ``str`` within the limit may still be too large in UTF-8: :func:`parse`
    checks that once it has encoded it.) Anything else is left to the caller's type check.
    """
    if isinstance(data, str):
        if len(data) > MAX_DOCUMENT_BYTES:
            raise Refused(
                f"document must be at most {MAX_DOCUMENT_BYTES:,} bytes (got {len(data):,} "
                "characters, at least as many bytes in UTF-8)"
            )
        return
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = memoryview(data).nbytes
        if size > MAX_DOCUMENT_BYTES:
            raise Refused(
                f"document must be at most {MAX_DOCUMENT_BYTES:,} bytes (got {size:,} bytes)"
            )


def _harden(parser: expat.XMLParserType) -> None:
    """Make ``parser`` refuse any DTD and entity declaration, and never load anything."""
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.NotationDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.buffer_text = True


def _long_namespace(prefix: str | None, uri: str, line: int) -> Refused:
    what = f"prefix {cut(prefix)!r}" if prefix else "the default namespace"
    return Refused(
        f"a namespace name must be at most {MAX_NAMESPACE_CHARS} characters, geotarget's "
        f"limit (XML sets none; got {cut(uri)!r} for {what} at line {line}): each name in "
        "the namespace would be written out with it"
    )


#: A namespace declaration whose value may be longer than :data:`MAX_NAMESPACE_CHARS`, as the
#: bytes of a UTF-8 document show it (an attribute value holds no ``<``; a character takes at
#: least one byte). Text may match it too: a match is only a reason to look closer.
_MAYBE_LONG_NAMESPACE = re.compile(
    rb"xmlns(?::[^\s=/>]*)?[ \t\r\n]*=[ \t\r\n]*(?:\"[^\"<]{%d}|'[^'<]{%d})"
    % (MAX_NAMESPACE_CHARS + 1, MAX_NAMESPACE_CHARS + 1)
)


def _refuse_long_namespaces(raw: bytes, encoding: str | None) -> None:
    """Refuse a namespace name longer than :data:`MAX_NAMESPACE_CHARS`, before expat expands it.

    expat writes every prefixed name of a start tag out with its namespace before any handler
    sees the tag, so a long namespace declared on a tag of many prefixed attributes would cost
    its length at each of them before the namespace-aware parse could refuse it. A document
    that may declare one (or is not in UTF-8, where the bytes do not show it) is first read
    without namespace processing, which writes out nothing: at a cost linear in its size.
    """
    if b"\x00" not in raw and _MAYBE_LONG_NAMESPACE.search(raw) is None:
        return
    parser = expat.ParserCreate(encoding)
    _harden(parser)

    def start(_name: str, attributes: dict[str, str]) -> None:
        for key, value in attributes.items():
            if (key == "xmlns" or key.startswith("xmlns:")) and len(value) > MAX_NAMESPACE_CHARS:
                raise _long_namespace(key[6:], value, parser.CurrentLineNumber)

    parser.StartElementHandler = start
    # Not well-formed: the namespace-aware parse says where, as it always has.
    with contextlib.suppress(expat.ExpatError, LookupError, UnicodeError, ValueError):
        parser.Parse(raw, True)


def parse(data: str | bytes) -> Node:
    """Parse ``data`` into a tree; raise :class:`Refused` or ``expat.ExpatError``.

    ``str`` input is parsed as the text it is (any encoding declaration is overridden);
    ``bytes`` are decoded as their XML declaration says (UTF-8 by default).
    """
    refuse_oversize(data)
    if isinstance(data, str):
        _refuse_surrogates(data)
        raw = data.encode("utf-8")
        parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
        utf8 = True
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        parser = expat.ParserCreate(namespace_separator=" ")
        utf8 = False
    else:
        raise TypeError(f"data must be str or bytes (got {type(data).__name__})")
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise Refused(
            f"document must be at most {MAX_DOCUMENT_BYTES:,} bytes (got {len(raw):,} bytes)"
        )
    _refuse_not_xml(raw)
    if not isinstance(data, str):
        _refuse_bom_conflict(raw)
        codec, how = _check_declared_encoding(raw) or (None, "")
        if codec is not None:
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as err:
                raise _undecodable(raw, err, codec, declared=how) from None
            # Decoded here, so parsed as UTF-8 text whatever its declaration says (as for str).
            raw = text.encode("utf-8")  # valid text: a codec decodes no lone surrogate
            parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
            utf8 = True

    _refuse_long_namespaces(raw, "UTF-8" if utf8 else None)
    _harden(parser)

    top = Node("", "#document", {})
    stack = [top]
    count = 0

    names: dict[str, tuple[str, str]] = {}  # one (namespace, local name) per qualified name

    def start(qname: str, attributes: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS:
            raise Refused(f"document must have at most {MAX_ELEMENTS:,} elements")
        if len(stack) > MAX_DEPTH:
            raise Refused(
                f"elements must nest at most {MAX_DEPTH} deep "
                f"(got deeper at line {parser.CurrentLineNumber})"
            )
        split = names.get(qname)
        if split is None:
            ns, _, local = qname.rpartition(" ")
            split = names[qname] = (ns, local)
        node = Node(split[0], split[1], attributes)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_qname: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        stack[-1].parts.append(data)

    bound: dict[str, int] = {}  # the prefixes in scope, for the message of an unbound one

    def bind(prefix: str | None, uri: str | None) -> None:
        # Before the element declaring it is named: no name is ever written out with it.
        if uri is not None and len(uri) > MAX_NAMESPACE_CHARS:
            raise _long_namespace(prefix, uri, parser.CurrentLineNumber)
        if prefix:
            bound[prefix] = bound.get(prefix, 0) + 1

    def unbind(prefix: str | None) -> None:
        if prefix:
            bound[prefix] -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartNamespaceDeclHandler = bind
    parser.EndNamespaceDeclHandler = unbind
    parser.XmlDeclHandler = _check_version
    try:
        parser.Parse(raw, True)
    except (LookupError, UnicodeError, ValueError) as err:
        # A declared encoding the prescan could not see (e.g. in UTF-16) that Python's codecs
        # cannot turn into the single-byte map expat needs.
        raise Refused(f"the document's declared encoding cannot be decoded: {err}") from err
    except expat.ExpatError as error:
        # Bytes that are not UTF-8 where expat reads UTF-8 are its "invalid token": say so.
        declared = None if isinstance(data, str) else _read_as_utf8(raw)
        if declared is not None:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                if err.start <= parser.ErrorByteIndex:
                    raise _undecodable(raw, err, "utf-8", declared=declared) from None
        declaration = _declaration_problem(raw, error.code)
        if declaration is not None:
            where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
            raise Refused(
                f"not well-formed XML: {expat.ErrorString(error.code)} at {where}: {declaration}"
            ) from None
        html = _HTML_HEAD.match(raw)
        if html is not None:  # HTML that is not XML: an unclosed <br>, an unquoted attribute
            where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
            shown = "<!DOCTYPE html>" if html.group(1)[:1] == b"!" else "an <html> tag"
            raise Refused(
                f"not well-formed XML: {expat.ErrorString(error.code)} at {where}: "
                + _html_page(shown)
            ) from None
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
            m = _ENTITY.match(raw, parser.ErrorByteIndex)
            if m is not None:
                where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
                raise _undefined_entity(m.group(1).decode("utf-8", "replace"), where) from None
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_UNBOUND_PREFIX]:
            unbound = _unbound_prefix(raw, parser.ErrorByteIndex, bound)
            if unbound is not None:
                where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
                raise Refused(
                    f"not well-formed XML: unbound prefix at {where}: {unbound}"
                ) from None
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_SYNTAX]:
            spaced = _spaced_namespace(raw, parser.ErrorByteIndex)
            if spaced is not None:
                where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
                raise Refused(f"not well-formed XML: syntax error at {where}: {spaced}") from None
        control = _control_character(raw, parser.ErrorByteIndex, error.code)
        if control is not None:
            where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
            raise Refused(
                f"not well-formed XML: {expat.ErrorString(error.code)} at {where}: {control}"
            ) from None
        if len(stack) == 1 and error.code in _OUTSIDE_ERRORS:
            # No element open: the error is in text before or after the root element.
            outside = _outside_root(raw, parser.ErrorByteIndex, after=bool(top.children))
            if outside is not None:
                where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
                raise Refused(
                    f"not well-formed XML: {expat.ErrorString(error.code)} at {where}: {outside}"
                ) from None
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
            bare = _bare_markup(raw, parser.ErrorByteIndex)
            if bare is not None:
                where = f"line {parser.ErrorLineNumber}, column {parser.ErrorColumnNumber + 1}"
                raise Refused(
                    f"not well-formed XML: {expat.ErrorString(error.code)} at {where}: {bare}"
                ) from None
        raise
    return top.children[0]


#: How an XML declaration is written (XML 1.0 §2.8, production XMLDecl).
_DECLARATION_RULE = (
    "an XML declaration is '<?xml', in lower case, then version (required, first), encoding "
    "and standalone ('yes' or 'no'), in that order, each name=\"value\", then '?>', as in "
    '<?xml version="1.0" encoding="UTF-8"?>'
)
#: The start of a declaration written in another case (``<?XML``, ``<?Xml``), after any mark.
_OTHER_CASE_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?(?!xml)[xX][mM][lL][ \t\r\n]")


def _declaration_problem(raw: bytes, code: int) -> str | None:
    """How an XML declaration expat refused is written wrong, or None if that is not it.

    expat says only "XML declaration not well-formed" for a declaration without its version,
    with its pseudo-attributes out of order or a standalone other than yes or no, and "invalid
    token" for one written ``<?XML`` (a reserved processing-instruction target).
    """
    if code == expat.errors.codes[expat.errors.XML_ERROR_XML_DECL]:
        return _DECLARATION_RULE
    if _OTHER_CASE_DECLARATION.match(raw):
        written = raw.lstrip(codecs.BOM_UTF8)[:5].decode()
        return f"the document starts '{written}': {_DECLARATION_RULE}"
    return None


#: The errors expat reports for text where no element is open (before or after the root).
_OUTSIDE_ERRORS = frozenset(
    expat.errors.codes[e]
    for e in (
        expat.errors.XML_ERROR_INVALID_TOKEN,
        expat.errors.XML_ERROR_SYNTAX,
        expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT,
    )
)


#: The name of the markup at a ``<``: an element's, an end tag's with its ``/``, a PI's with ``?``.
_MARKUP_NAME = re.compile(rb"<([/?]?[^\s/>?]+)")


def _outside_root(raw: bytes, at: int, *, after: bool) -> str | None:
    """What is wrong when expat stops at text outside the root element; None for markup.

    XML 1.0 §2.1 (production ``document``) allows only comments, processing instructions and
    whitespace before and after the root element, so no text, and no character or entity
    reference either (``?>&#10;<alert>``, an escaped line break). A file saved with the HTTP
    response's status line and headers before the XML (``curl -i``) starts so.
    """
    start = raw.rfind(b">", 0, at) + 1
    while start < at and raw[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
        start += 1
    if after and _TAG_START.match(raw, start + 1) and raw[start : start + 1] == b"<":
        m = _MARKUP_NAME.match(raw, start)
        name = "" if m is None else cut(m.group(1).decode("utf-8", "replace"))
        if name == "?xml":
            return (
                "a second XML declaration comes after the root element: the file holds several "
                "documents one after another (XML 1.0 §2.1 and §2.8 allow one root, and the "
                "declaration only at the very start); split it into one document each"
            )
        if name.startswith("/"):
            return (
                f"the end tag <{name}> comes after the root element ended, closing no element "
                "(XML 1.0 §2.1)"
            )
        if name and name[0] not in "!?":
            return (
                f"a second element <{name}> comes after the root element: an XML document has "
                "one root, and a CAP document one <alert> (XML 1.0 §2.1); split a file of "
                "several alerts into one document each"
            )
    if raw.startswith(b"<![CDATA[", start):
        wrapped = (
            ": is the document a CAP alert wrapped in <![CDATA[ ... ]]>, as a feed's "
            "<description> carries one? Read the text inside the section"
        )
        return (
            f"a CDATA section comes {'after' if after else 'before'} the root element, where "
            "XML allows only comments, processing instructions and whitespace (XML 1.0 §2.1)"
            + ("" if after else wrapped)
        )
    if raw[start : start + 1] in (b"<", b""):
        return None  # other markup: expat's own message stands
    if start == 0 and raw.startswith(codecs.BOM_UTF8):
        start = len(codecs.BOM_UTF8)  # the document's own mark, which expat read as such
    # At most its first line is quoted: a table given as the alert (a positions file) holds
    # devices' ids and coordinates from its second line on, which no message repeats.
    text = re.split(rb"[\r\n]", raw[start : start + 40].split(b"<", 1)[0], maxsplit=1)[0]
    text = text.decode("utf-8", "replace")
    where = "after" if after else "before"
    if text.startswith("\ufeff"):
        return (
            f"a byte-order mark (U+FEFF) comes {where} the root element, where XML allows only "
            "comments, processing instructions and whitespace (XML 1.0 §2.1): a mark belongs "
            "only at the very start, once (text saved with a mark was joined to another, or "
            "saved with a second one); remove it"
        )
    if not after and _LOCATION.fullmatch(raw) is not None:
        return (
            f"the whole document is the text {text!r}, which looks like a file name or a URL, "
            "not XML: the reader reads the document it is given, not where it is (read the "
            "file, as Path(name).read_bytes(), or fetch the URL, and pass the bytes)"
        )
    # A delimited line is a table's (a positions file given as the alert): not quoted.
    shown_text = (
        "of a delimited line (a CSV table's? not quoted: a row may be a device's position)"
        if any(d in re.sub(r"&#?\w+;", "", text) for d in ",;\t")  # not a reference's ';'
        else repr(text)
    )
    message = (
        f"the text {shown_text} comes {where} the root element, where XML allows only comments, "
        "processing instructions and whitespace (XML 1.0 §2.1), references such as &#10; "
        "included"
    )
    if not after and raw.startswith((b"&lt;", b"&amp;lt;"), start):
        message += (
            "; the document is XML escaped as text ('&lt;' for '<'), as a feed's escaped "
            "<content> or <description> carries it: unescape it first (html.unescape)"
        )
    if not after and raw.startswith(b"HTTP/"):
        message += (
            "; the file starts with an HTTP response's status line and headers: save the "
            "response body only"
        )
    return message


#: A whole document that is one line naming where a document is, not one: a URL (a scheme and
#: ``://``), a path (starting ``/``, ``~``, ``.``, ``\\`` or a drive letter) or a file name
#: ending ``.xml``, ``.cap``..., with no markup and none of the delimiters of a table's line.
_LOCATION = re.compile(
    rb"(?:\xef\xbb\xbf)?[ \t\r\n]*"
    rb"(?=[A-Za-z][A-Za-z0-9+.-]*://|[/~.\\]|[A-Za-z]:[/\\]"
    rb"|[^\r\n]*?\.(?i:xml|cap|txt|atom|rss)[ \t\r\n]*\Z)"
    rb"[^<>,;\t\r\n]{1,4096}[ \t\r\n]*"
)


#: The bytes a name may start with after ``<`` (a tag, an end tag, a comment, a PI): ASCII
#: letters, ``_``, ``:`` and any non-ASCII byte (XML 1.0 production NameStartChar).
_TAG_START = re.compile(rb"[A-Za-z_:/!?\x80-\xff]")


def _bare_markup(raw: bytes, at: int) -> str | None:
    """What is wrong when expat's "invalid token" at byte ``at`` is a bare ``&`` or ``<`` in text.

    expat reports the byte after the ``&`` or ``<`` that starts no reference or tag: "Police
    & fire", a URL's ``?a=1&b=2``, "<25 m/s". None when it is something else.
    """
    start = max(raw.rfind(b"&", max(0, at - 64), at + 1), raw.rfind(b"<", max(0, at - 64), at + 1))
    if start < 0:
        return None
    near = raw[max(0, start - 20) : start + 20].decode("utf-8", "replace")
    if raw[start : start + 1] == b"&":
        if b";" in raw[start : at + 1]:
            return None  # a malformed reference (&#xZZ;), not a bare ampersand
        return (
            f"a bare '&' (in {near!r}), which XML requires written '&amp;' in text, a URL's "
            "query string included (?a=1&amp;b=2)"
        )
    if _TAG_START.match(raw, start + 1):
        return None
    return f"a '<' that starts no tag (in {near!r}), which XML requires written '&lt;' in text"


_CHAR_REF = re.compile(rb"&#(x[0-9A-Fa-f]{1,8}|[0-9]{1,10});")
_NOT_XML = "which XML 1.0 does not allow in a document, literally or referenced (§2.2, Char)"


def _control_character(raw: bytes, at: int, code: int) -> str | None:
    """The control character expat stopped at (literal, or a character reference), if any.

    XML 1.0 allows no C0 control but tab, line feed and carriage return; text from legacy
    systems carries them (vertical tab, escape, SOH/ETX of a bulletin's header).
    """
    if code == expat.errors.codes[expat.errors.XML_ERROR_BAD_CHAR_REF]:
        m = _CHAR_REF.match(raw, at)
        if m is None:
            return None
        digits = m.group(1).decode("ascii")
        point = int(digits[1:], 16) if digits.startswith("x") else int(digits)
        ref = m.group(0).decode("ascii")
        return f"the character reference {ref!r} names U+{point:04X}, {_NOT_XML}"
    if code != expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN] or at >= len(raw):
        return None
    byte = raw[at]
    if raw[at : at + 3] in (b"\xef\xbf\xbe", b"\xef\xbf\xbf"):  # (raw is UTF-8 here)
        # XML 1.0 §2.2 (production Char) leaves out the noncharacters U+FFFE and U+FFFF: a
        # byte-swapped byte-order mark, or a placeholder a converter wrote.
        char = raw[at : at + 3].decode("utf-8")
        near = raw[max(0, at - 20) : at + 23].decode("utf-8", "replace")
        return f"the noncharacter U+{ord(char):04X} (in {near!r}), {_NOT_XML}: remove it"
    if byte >= 0x20 or byte in b"\t\n\r":
        return None
    near = raw[max(0, at - 20) : at + 20].decode("utf-8", "replace")
    return f"the control character U+{byte:04X} (in {near!r}), {_NOT_XML}: remove it"


#: The namespaces of the prefixes CAP documents use, for the declaration a message suggests.
_KNOWN_PREFIXES = {
    "cap": "urn:oasis:names:tc:emergency:cap:1.2",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
_TAG = re.compile(rb"<([^\s/>]+)([^>]*)>?")
_PREFIXED = re.compile(rb"(?:^|\s)([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*=")


def _unbound_prefix(raw: bytes, at: int, bound: dict[str, int]) -> str | None:
    """Which prefix of the tag at byte ``at`` no declaration in scope binds, and the remedy.

    ``bound`` counts the prefixes declared by the open elements. None when the tag is not
    there to read (then expat's message stands alone).
    """
    m = _TAG.match(raw, at)
    if m is None:
        return None
    name, rest = m.group(1).decode("utf-8", "replace"), m.group(2)
    here = {p.decode("utf-8", "replace") for p in re.findall(rb"xmlns:([\w.-]+)\s*=", rest)}
    used = [name.partition(":")[0]] if ":" in name else []
    used += [p.decode("utf-8", "replace") for p in _PREFIXED.findall(rest)]
    free = [p for p in used if p not in ("xml", "xmlns") and p not in here and not bound.get(p)]
    if not free:
        return None
    prefix = free[0]
    uri = _KNOWN_PREFIXES.get(prefix, "the namespace it stands for")
    prefix, name = cut(prefix), cut(name)
    return (
        f"the prefix '{prefix}:' used in <{name}> is bound by no xmlns:{prefix} declaration in "
        f'scope: declare it, as xmlns:{prefix}="{uri}" (an alert cut out of a feed loses the '
        "declarations the feed made)"
    )


#: A namespace declaration in a start tag: the attribute's name and its quoted value.
_NAMESPACE_DECL = re.compile(rb"(xmlns(?::[^\s=/>]+)?)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
#: What attribute-value normalization turns into a space (XML 1.0 §3.3.3): XML whitespace,
#: literal or as a character reference.
_SPACE_IN_VALUE = re.compile(rb"[ \t\r\n]|&#(?:0*(?:9|10|13|32)|x0*(?:9|[aAdD]|20));")


def _spaced_namespace(raw: bytes, at: int) -> str | None:
    """The namespace declaration of the tag at byte ``at`` whose name holds whitespace, if any.

    A namespace name is a URI reference (Namespaces in XML 1.0 §2.2), which holds no space;
    expat, which joins a namespace and a local name with a space, reports such a declaration
    as a bare "syntax error" at the start of its tag: ``xmlns="urn:oasis:...:cap:1.2 "``, a
    space copied in with the namespace. None when the tag holds no such declaration.
    """
    m = _TAG.match(raw, at)
    if m is None:
        return None
    name = m.group(1).decode("utf-8", "replace")
    for decl in _NAMESPACE_DECL.finditer(m.group(2)):
        value = decl.group(2) if decl.group(2) is not None else decl.group(3)
        if not _SPACE_IN_VALUE.search(value):
            continue
        attribute = cut(decl.group(1).decode("utf-8", "replace"))
        written = cut(value.decode("utf-8", "replace"))
        cleaned = _SPACE_IN_VALUE.sub(b"", value).decode("utf-8", "replace")
        remedy = (
            f"write {attribute}={cleaned!r}"
            if cleaned in _KNOWN_PREFIXES.values()
            else "remove the whitespace"
        )
        return (
            f"the namespace declaration {attribute}={written!r} in <{cut(name)}> holds whitespace, "
            "which a namespace name (a URI reference, Namespaces in XML 1.0 §2.2) cannot hold: "
            f"{remedy}"
        )
    return None


#: An entity reference as expat reports it undefined (the name, without ``&`` and ``;``).
_ENTITY = re.compile(rb"&([^\s&;<>]{1,64});")


def _undefined_entity(name: str, where: str) -> Refused:
    """The refusal of ``&name;``: XML predefines five entities, and no DTD is read.

    Feeds written by web systems carry HTML entities (``&nbsp;``, ``&eacute;``); the message
    says which character to write instead when the name is an HTML one.
    """
    point = html.entities.name2codepoint.get(name)
    instead = (
        f"'&{name};' is an HTML entity: write {chr(point)!r} itself or &#{point};"
        if point is not None
        else "write the character itself or a character reference such as &#233; (é)"
    )
    return Refused(
        f"not well-formed XML: undefined entity '&{name};' at {where}: XML predefines only "
        f"&lt; &gt; &amp; &apos; &quot;, and geotarget reads no DTD that could declare others; "
        f"{instead}"
    )


def _read_as_utf8(raw: bytes) -> bool | None:
    """Whether expat reads ``raw`` as UTF-8 because it says so (True) or says nothing (False).

    None when it reads another encoding: a declared one, or UTF-16 by its byte-order mark or
    its first characters (XML 1.0 Appendix F). Without a declaration, XML 1.0 §4.3.3 makes
    UTF-8 the encoding of a document that has no byte-order mark.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw[:4]:
        return None
    m = _DECLARED.match(raw)
    if m is None:
        return False
    return True if m.group(1).decode("ascii").upper() == "UTF-8" else None


def _refuse_surrogates(text: str) -> None:
    """Refuse a ``str`` holding a lone surrogate (as ``surrogateescape`` decoding leaves).

    A surrogate code point is no character (XML 1.0 §2.2, production Char), so it cannot be
    XML; expat said only "not well-formed (invalid token)".
    """
    m = _SURROGATE.search(text)
    if m is None:
        return
    before = text[: m.start()].replace("\r\n", "\n").replace("\r", "\n")
    line = before.count("\n") + 1
    column = len(before) - before.rfind("\n")
    raise Refused(
        f"the text holds U+{ord(m.group()):04X}, a lone surrogate, at line {line}, column "
        f"{column} (character {m.start():,} of the text): a surrogate is no character, so it "
        "cannot be XML (XML 1.0 §2.2); it is what decoding bytes with errors='surrogateescape' "
        "leaves for a byte the codec could not decode: pass the bytes instead, so that their "
        "encoding is read from the document"
    )


_SURROGATE = re.compile("[\ud800-\udfff]")

#: How errors name what chose the encoding (:func:`_check_declared_encoding`'s ``how``).
_WHY = {
    "declared": "the encoding it declares",
    "mark": "the encoding its byte-order mark names",
    "shape": "the encoding its first bytes show (XML 1.0 Appendix F)",
}


def _undecodable(
    raw: bytes, err: UnicodeDecodeError, codec: str, *, declared: bool | str
) -> Refused:
    """The refusal of bytes that ``codec`` cannot decode: the byte, where it is, what to do.

    The line and column count characters as expat does (CR LF and a lone CR end a line), so
    they match an editor's; ``declared``: whether the document names ``codec`` itself, rather
    than leaving XML to assume UTF-8 (True), or what names it (a key of :data:`_WHY`).
    """
    start = err.start
    name = {"utf-8": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}.get(
        codec.removesuffix("-le").removesuffix("-be"), codec
    )
    before = raw[:start].decode("utf-8-sig" if codec == "utf-8" else codec, "replace")
    before = before.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    line = before.count("\n") + 1
    column = len(before) - before.rfind("\n")
    shown = " ".join(f"0x{b:02X}" for b in raw[start : max(err.end, start + 1)][:4])
    near = raw[max(0, start - 12) : start + 8]
    if isinstance(declared, str):
        why = f"{name}, {_WHY[declared]}"
    elif declared:
        why = f"{name}, the encoding it declares"
    else:
        why = f"{name}, the encoding XML assumes for a document that declares none"
    if codec == "utf-8":
        hint = (
            "save it as UTF-8, or declare the encoding it is written in, e.g. "
            '<?xml version="1.0" encoding="windows-1252"?> for text saved by Windows in '
            "a Western European language"
        )
    else:
        hint = f"save it in {name}, or declare the encoding it is written in"
    return Refused(
        f"the document is not valid {why}: byte {shown} at line {line}, column {column} (byte "
        f"{start:,} of the document, in {near!r}): {err.reason}; {hint}"
    )
