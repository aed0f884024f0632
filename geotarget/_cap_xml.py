"""Private: safe XML parsing for the CAP codec, on the standard library's expat only.

The parser refuses any DOCTYPE (so no DTD, no entity declaration, no entity expansion and no
external entity or DTD can ever be loaded), never resolves anything over a network or a file
system, and bounds the input size, the element depth and the number of elements. It builds a
minimal element tree of :class:`Node` objects; nothing else of the document survives.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from typing import NoReturn

#: The largest document accepted, in bytes (4 MiB; the largest real CAP seen is 0.9 MB).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
#: The deepest element nesting accepted (CAP needs 5; XML signatures need about 8).
MAX_DEPTH = 32
#: The most elements accepted in one document.
MAX_ELEMENTS = 100_000


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


def _refuse_dtd(*_args: object) -> NoReturn:
    raise Refused(
        "DOCTYPE declarations are refused: geotarget reads no DTD and expands no entity, "
        "so entity-expansion (billion laughs) and external-entity (XXE) attacks cannot work"
    )


def _refuse_entity(*_args: object) -> NoReturn:
    raise Refused("entity declarations and external entities are refused")


def parse(data: str | bytes) -> Node:
    """Parse ``data`` into a tree; raise :class:`Refused` or ``expat.ExpatError``.

    ``str`` input is parsed as the text it is (any encoding declaration is overridden);
    ``bytes`` are decoded as their XML declaration says (UTF-8 by default).
    """
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
        parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        parser = expat.ParserCreate(namespace_separator=" ")
    else:
        raise TypeError(f"data must be str or bytes (got {type(data).__name__})")
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise Refused(
            f"document must be at most {MAX_DOCUMENT_BYTES:,} bytes (got {len(raw):,} bytes)"
        )

    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.NotationDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.buffer_text = True

    top = Node("", "#document", {})
    stack = [top]
    count = 0

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
        ns, _, local = qname.rpartition(" ")
        node = Node(ns, local, attributes)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_qname: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        stack[-1].parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.Parse(raw, True)
    return top.children[0]
