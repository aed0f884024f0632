"""Values quoted in error messages are cut visibly at a whole word, never silently.

Oracle: the quoted text is a prefix of the value's ``repr`` that ends before a space of it (or
is the whole value), followed by ``...`` and the repr's length.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from geotarget import Polygon, Positions
from geotarget._validate import shown
from geotarget.errors import GeotargetError, InvalidType

WORDS = "enhet-ett enhet-två enhet-tre enhet-fyra enhet-fem enhet-sex enhet-sju enhet-åtta"


def _check_cut(message: str, value: object) -> None:
    text = repr(value)
    m = re.search(r"\(got (.*)\.\.\. \(([\d,]+) characters\)\)", message)
    assert m is not None, message
    head, size = m.group(1), int(m.group(2).replace(",", ""))
    assert size == len(text)
    assert text.startswith(head)
    assert text[len(head)] == " ", (head, text)  # cut before a space: a whole word shown


@pytest.mark.parametrize(
    "make",
    [
        lambda: Polygon([(18.0, 59.0), (18.1, 59.0), WORDS]),  # type: ignore[list-item]
        lambda: Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1)], holes=WORDS),  # type: ignore[arg-type]
        lambda: Positions(WORDS, [18.0], [59.0]),
    ],
)
def test_a_long_value_is_cut_at_a_word_and_named_by_its_length(make: object) -> None:
    """Area and position errors quote a long value up to a whole word, then its length."""
    with pytest.raises(GeotargetError) as err:
        make()  # type: ignore[operator]
    _check_cut(str(err.value), WORDS)


def test_shown_cuts_at_a_word_and_keeps_a_short_value_whole() -> None:
    """``shown`` itself: whole when short, else a whole-word prefix and the length."""
    assert shown("kort", 40) == "'kort'"
    _check_cut(f"(got {shown(WORDS, 40)})", WORDS)
    blob = "x" * 500  # no word boundary: cut at the limit
    assert shown(blob, 40) == "'" + "x" * 36 + "... (502 characters)"


def test_write_partitioned_refuses_a_non_positions_as_a_type_error(tmp_path: Path) -> None:
    """The dataset writer names a wrong argument type as the dask wrapper does."""
    pytest.importorskip("pyarrow")
    from geotarget._positions_arrow import write_partitioned

    with pytest.raises(InvalidType, match=r"positions must be Positions \(got dict\)"):
        write_partitioned({"lon": [18.0]}, tmp_path / "out")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
