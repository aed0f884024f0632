"""Probe 12 of resource bounds: inputs small on disk whose parsed form is large.

Every test bounds memory (tracemalloc's peak against the input's size) or counts work; none
reads a clock.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from geotarget import cap
from geotarget.errors import InvalidCAP

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def _peak(call: Callable[[], Any]) -> tuple[int, BaseException | None]:
    """The peak bytes tracemalloc counts while ``call`` runs, and what it raised."""
    tracemalloc.start()
    try:
        try:
            call()
        except Exception as err:  # the caller asserts on it
            return tracemalloc.get_traced_memory()[1], err
        return tracemalloc.get_traced_memory()[1], None
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------------
# A long namespace name on a short prefix: expat writes it out in every name that uses it
# ---------------------------------------------------------------------------------------------


def _elements(uri: str, n: int) -> str:
    return f'<alert xmlns="{CAP_NS}" xmlns:p="{uri}">' + "<p:a/>" * n + "</alert>"


def _attributes(uri: str, n: int) -> str:
    attrs = "".join(f' p:n{i:x}=""' for i in range(n))
    return f'<alert xmlns="{CAP_NS}" xmlns:p="{uri}"{attrs}/>'


def _default(uri: str, n: int) -> str:
    return f'<alert xmlns="{CAP_NS}"><x xmlns="{uri}">' + "<a/>" * n + "</x></alert>"


@pytest.mark.parametrize("shape", [_elements, _attributes, _default])
@pytest.mark.parametrize("reader", [cap.loads, cap.read])
def test_a_long_namespace_on_short_names_is_refused_before_it_is_written_out(
    shape: Callable[[str, int], str], reader: Callable[[str], Any]
) -> None:
    """A 20,000-character namespace named 3,000 times: 60 MB written out from a 60 kB document.

    It is refused, naming the limit and the namespace cut short, and costs a small multiple of
    the document, not the namespace's length at every name.
    """
    uri = "urn:" + "x" * 20_000
    doc = shape(uri, 3_000)
    peak, err = _peak(lambda: reader(doc))
    assert isinstance(err, InvalidCAP), err
    text = str(err)
    assert "namespace name must be at most 256 characters" in text
    assert "(20,004 characters)" in text
    assert len(text) < 1_000
    assert peak < 20 * len(doc), (peak, len(doc))


@pytest.mark.parametrize("length", [36, 256])
def test_a_namespace_within_the_limit_is_read(length: int) -> None:
    """Up to 256 characters a namespace is declared as any other."""
    uri = "urn:" + "y" * (length - 4)
    doc = (
        f'<alert xmlns="{CAP_NS}" xmlns:p="{uri}">'
        "<identifier>X-1</identifier><sender>a@b.se</sender><sent>2026-05-04T21:30:00+02:00</sent><status>Actual</status>"
        "<msgType>Alert</msgType><scope>Public</scope>"
        "<info><category>Safety</category><event>E</event><urgency>Immediate</urgency>"
        "<severity>Severe</severity><certainty>Likely</certainty>"
        "<area><areaDesc>A</areaDesc><circle>59.33,18.06 1</circle></area></info></alert>"
    )
    parsed = cap.read(doc)
    assert parsed.alert.identifier == "X-1"


def test_many_elements_of_one_namespace_share_it() -> None:
    """90,000 elements of a 256-character namespace: the namespace is held once, not per element.

    Each element once held its own copy of the namespace (about 95 bytes of memory per byte of
    the document, against about 45 when shared).
    """
    from geotarget.cap import _xml

    uri = "urn:" + "z" * 252
    doc = f'<alert xmlns:p="{uri}">' + "<p:a/>" * 90_000 + "</alert>"
    holder: list[Any] = []
    peak, err = _peak(lambda: holder.append(_xml.parse(doc)))
    assert err is None
    root = holder[0]
    assert len(root.children) == 90_000
    assert {c.ns for c in root.children} == {uri}
    assert peak < 70 * len(doc), (peak, len(doc), peak / len(doc))


def test_a_long_namespace_in_utf16_is_refused_before_it_is_written_out() -> None:
    """The bytes of a UTF-16 document do not show the declaration: it is looked for all the same."""
    uri = "urn:" + "x" * 20_000
    raw = _attributes(uri, 3_000).encode("utf-16")
    peak, err = _peak(lambda: cap.read(raw))
    assert isinstance(err, InvalidCAP), err
    assert "namespace name must be at most 256 characters" in str(err)
    assert peak < 20 * len(raw), (peak, len(raw))


def test_text_that_looks_like_a_long_namespace_declaration_is_read() -> None:
    """A description quoting ``xmlns="`` before 300 characters is text, not a declaration."""
    quoted = 'xmlns="' + "q" * 300
    doc = (
        f'<alert xmlns="{CAP_NS}">'
        "<identifier>X-1</identifier><sender>a@b.se</sender><sent>2026-05-04T21:30:00+02:00</sent>"
        "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
        "<info><category>Safety</category><event>E</event><urgency>Immediate</urgency>"
        f"<severity>Severe</severity><certainty>Likely</certainty><description>{quoted}"
        "</description><area><areaDesc>A</areaDesc><circle>59.33,18.06 1</circle></area></info>"
        "</alert>"
    )
    alert = cap.loads(doc)
    assert alert.infos[0].description == quoted
