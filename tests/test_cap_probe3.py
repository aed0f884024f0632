"""CAP documents no other test writes: hostile names, other issuers' lists and namespaces.

Oracles are plain Python on the document text (and lxml where it reads the document too).
"""

from __future__ import annotations

import re

import pytest

from geotarget import cap
from geotarget.errors import InvalidCAP

NS = "urn:oasis:names:tc:emergency:cap:1.2"


def _doc(head: str = "", *, scope: str = "Public", ns: str = NS, extra: str = "") -> str:
    """A small valid alert with ``head`` after ``<scope>`` (and ``extra`` before ``</alert>``)."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="{ns}">\n'
        "<identifier>ID-1</identifier><sender>s@example.org</sender>"
        "<sent>2026-05-04T19:30:00-00:00</sent><status>Actual</status>"
        f"<msgType>Alert</msgType><scope>{scope}</scope>{head}"
        "<info><category>Safety</category><event>Test</event><urgency>Immediate</urgency>"
        "<severity>Severe</severity><certainty>Likely</certainty>"
        "<area><areaDesc>A</areaDesc><circle>59.33,18.06 1</circle></area></info>"
        f"{extra}</alert>"
    )


def _refused(data: str | bytes) -> InvalidCAP:
    with pytest.raises(InvalidCAP) as info:
        cap.read(data)
    return info.value


# ---------------------------------------------------------------------------------------------
# Names from the document are shown cut short: a name may be megabytes long
# ---------------------------------------------------------------------------------------------

LONG = 500_000


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("unknown element", _doc(f"<{'n' * LONG}/>")),
        ("foreign namespace", _doc(f'<x xmlns="{"u" * LONG}"/>')),
        ("attribute", _doc(f'<note {"a" * LONG}="1">x</note>')),
        ("xml: attribute", _doc(f'<note xml:{"l" * LONG}="x">x</note>')),
        ("root element", f"<{'r' * LONG}/>"),
        ("root namespace", f'<alert xmlns="{"u" * LONG}"/>'),
        ("unbound prefix", _doc(f"<{'p' * LONG}:x/>")),
        ("spaced namespace", _doc(f'<x xmlns:{"p" * LONG}="a b"/>')),
        ("end tag after the root", _doc() + f"</{'z' * LONG}>"),
        ("element after the root", _doc() + f"<{'z' * LONG}/>"),
    ],
)
def test_a_long_name_is_cut_short_in_the_message_and_the_path(name: str, data: str) -> None:
    """A 500,000-character name does not come back whole (twice) in the error."""
    err = _refused(data)
    text = str(err)
    assert len(text) < 2_000, (name, len(text))
    assert all(len(p.path) < 200 for p in err.problems)
    assert re.search(r"… \(500,0\d\d characters\)", text), text
