"""Probe 12 of resource bounds: inputs small on disk whose parsed form is large.

Every test bounds memory (tracemalloc's peak against the input's size) or counts work; none
reads a clock.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from geotarget import cap
from geotarget.errors import InvalidCAP, InvalidInput, InvalidPositions

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


# ---------------------------------------------------------------------------------------------
# A long value named by many rows: a dictionary page, or compression, shrinks it to nothing
# ---------------------------------------------------------------------------------------------

LONG = "x" * 100_000
ROWS = 2_000  # 200 MB once each row's value is written out


def _long_values(column: str, *, dictionary: bool) -> Any:
    """A table whose ``column`` (``id`` or ``observed_at``) holds LONG in every row."""
    pa = pytest.importorskip("pyarrow")
    if dictionary:
        long = pa.DictionaryArray.from_arrays(pa.array([0] * ROWS, pa.int32()), pa.array([LONG]))
    else:
        long = pa.array([LONG] * ROWS)
    columns = {
        "id": pa.array([f"d{k}" for k in range(ROWS)]),
        "lon": pa.array([18.06] * ROWS),
        "lat": pa.array([59.33] * ROWS),
        "accuracy_m": pa.array([10.0] * ROWS),
        "observed_at": pa.array(["2026-05-04T21:30:00+02:00"] * ROWS),
    }
    columns[column] = long
    return pa.table(columns)


def _write(tmp_path: Path, column: str, *, dictionary: bool, arrow_schema: bool) -> Path:
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "positions.parquet"
    pq.write_table(
        _long_values(column, dictionary=dictionary),
        path,
        compression="zstd",
        use_dictionary=dictionary,
        store_schema=arrow_schema,
    )
    assert path.stat().st_size < 200_000
    return path


def _read_file(path: Path) -> Any:
    from geotarget._position_files import read

    return read(path)


def _read_arrow(path: Path) -> Any:
    from geotarget._positions_arrow import read_parquet

    return read_parquet(path)


@pytest.mark.parametrize("column", ["id", "observed_at"])
@pytest.mark.parametrize("reader", [_read_file, _read_arrow], ids=["file", "arrow"])
@pytest.mark.parametrize(
    ("dictionary", "arrow_schema"),
    [(True, True), (True, False), (False, False)],
    ids=["categorical", "dictionary-page", "compressed"],
)
def test_a_long_value_named_by_many_rows_is_refused_before_it_is_written_out(
    tmp_path: Path, reader: Callable[[Path], Any], column: str, dictionary: bool, arrow_schema: bool
) -> None:
    """A file of well under 200 kB whose 2,000 rows name one 100,000-character value.

    Written out once a row it is 200 MB (800 MB as numpy text); it is refused first, costing a
    small part of that.
    """
    path = _write(tmp_path, column, dictionary=dictionary, arrow_schema=arrow_schema)
    peak, err = _peak(lambda: reader(path))
    assert isinstance(err, (InvalidPositions, InvalidInput)), err
    text = str(err)
    assert "positions.parquet" in text
    assert ("characters long (this one has 100,000)" in text and column in text) or (
        "bytes uncompressed" in text
    ), text
    assert "x" * 100 not in text
    assert peak < 40_000_000, peak


@pytest.mark.parametrize(("column", "limit"), [("id", 256), ("observed_at", 64)])
def test_a_categorical_of_a_long_value_given_as_a_table_is_refused_before_decoding(
    column: str, limit: int
) -> None:
    """An Arrow table in memory holds the value once; decoded, it would hold it 2,000 times."""
    from geotarget._positions_arrow import positions_from_arrow

    table = _long_values(column, dictionary=True)
    peak, err = _peak(lambda: positions_from_arrow(table))
    assert isinstance(err, InvalidPositions), err
    want = f"row 1, column {column}: must be at most {limit} characters long (this one has 100,000)"
    assert want in str(err)
    assert peak < 20_000_000, peak


@pytest.mark.parametrize("arrow_schema", [True, False])
def test_a_categorical_of_short_ids_reads_as_the_same_ids(
    tmp_path: Path, arrow_schema: bool
) -> None:
    """The oracle: the ids written, row for row, whichever reader and however stored."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from geotarget._position_files import read
    from geotarget._positions_arrow import read_parquet

    names = [f"dev-{k}-ä" for k in range(30)]  # more than the rows: some never named
    rows = [(7 * k + 3) % 30 for k in range(24)]
    ids = pa.DictionaryArray.from_arrays(pa.array(rows, pa.int32()), pa.array(names))
    table = pa.table(
        {
            "id": ids,
            "lon": pa.array([18.0 + k / 100 for k in range(len(rows))]),
            "lat": pa.array([59.3] * len(rows)),
            "accuracy_m": pa.array([5.0] * len(rows)),
            "observed_at": pa.array(
                [1_780_000_000_000_000] * len(rows), pa.timestamp("us", tz="UTC")
            ),
        }
    )
    path = tmp_path / "p.parquet"
    # Two row groups, each with its own dictionary.
    pq.write_table(table, path, row_group_size=10, store_schema=arrow_schema)
    want = [names[r] for r in rows]
    positions, _ = read(path)
    assert [str(i) for i in positions.ids] == want
    assert [str(i) for i in read_parquet(path).ids] == want


# ---------------------------------------------------------------------------------------------
# A long quoted cell full of doubled quotes (a JSON object in a note column)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ['{""k"":""v""},', '""'])
def test_a_long_cell_of_doubled_quotes_is_read_in_memory_of_its_size(
    tmp_path: Path, unit: str
) -> None:
    """A 2 MB note cell of JSON (each quote doubled, as CSV writes it) is read, not refused.

    It is longer than the csv module's field limit, so read by geotarget's own reader, whose
    regular expression once kept a backtracking point a doubled quote: some 50 to 75 bytes of
    memory a character of the cell.
    """
    from geotarget._position_files import read

    cell = unit * (2_000_000 // len(unit))
    path = tmp_path / "p.csv"
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at,note\n"
        f'd1,18.06,59.33,10,2026-05-04T21:30:00+02:00,"{cell}"\n'
        "d2,18.07,59.34,10,2026-05-04T21:30:00+02:00,short\n",
        encoding="utf-8",
    )
    size = path.stat().st_size
    holder: list[Any] = []
    peak, err = _peak(lambda: holder.append(read(path)))
    assert err is None, err
    positions, report = holder[0]
    assert [str(i) for i in positions.ids] == ["d1", "d2"]
    assert "note" in report.unknown_columns
    assert peak < 12 * size, (peak, size, peak / size)


@pytest.mark.parametrize(
    ("text", "start", "want"),
    [
        ('"a"', 0, 2),
        ('"a""b",x', 0, 5),
        ('"a""', 0, -1),
        ('"a"""', 0, 4),
        ('""', 0, 1),
        ('"""",', 0, 3),
        ('x,"a""b"', 2, 7),
        ('"', 0, -1),
    ],
)
def test_the_closing_quote_is_the_first_not_doubled(text: str, start: int, want: int) -> None:
    """The oracle: the csv module's own reading of the same field (strict, doubled quotes)."""
    import csv

    from geotarget._csv_records import closing_quote

    assert closing_quote(text, start) == want
    if want >= 0:
        field = next(csv.reader([text[start:]], strict=False))[0]
        assert field == text[start + 1 : want].replace('""', '"')


# ---------------------------------------------------------------------------------------------
# A CAP text checked by a regular expression that repeats a group: a point a repetition
# ---------------------------------------------------------------------------------------------


def _cap(language: str = "sv-SE", area: str = "<circle>59.33,18.06 1</circle>") -> str:
    return (
        f'<alert xmlns="{CAP_NS}"><identifier>X-1</identifier><sender>a@b.se</sender>'
        "<sent>2026-05-04T21:30:00+02:00</sent><status>Actual</status><msgType>Alert</msgType>"
        f"<scope>Public</scope><info><language>{language}</language><category>Safety</category>"
        "<event>E</event><urgency>Immediate</urgency><severity>Severe</severity>"
        f"<certainty>Likely</certainty><area><areaDesc>A</areaDesc>{area}</area></info></alert>"
    )


@pytest.mark.parametrize("last", ["b", "!"])
def test_a_long_language_tag_is_checked_in_memory_of_its_size(last: str) -> None:
    """A 2 MB tag of a million subtags cost some 75 bytes of memory a character to check."""
    doc = _cap(language="a-" * 1_000_000 + last)
    peak, err = _peak(lambda: cap.read(doc))
    if last == "b":
        assert err is None, err
    else:
        assert isinstance(err, InvalidCAP)
        assert "language: must be a language tag" in str(err)
    assert peak < 12 * len(doc), (peak, len(doc), peak / len(doc))


def test_language_tags_are_read_by_xs_language_s_pattern() -> None:
    """The oracle: XML Schema's own pattern for xs:language, matched whole, on many texts."""
    import random
    import re

    spec = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")
    rng = random.Random(12)
    alphabet = "aZq9-_ é\n٣"
    texts = ["", "-", "sv", "sv-SE", "abcdefgh", "abcdefghi", "sv-", "-sv", "sv--SE", "x-123"]
    texts += ["sv-abcdefgh", "sv-abcdefghi", "1sv", "sv-SE\n", "zh-Hant-TW", "en_US", "sv-٣"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(3000)]
    for text in texts:
        want = spec.fullmatch(text) is not None
        err = None
        try:
            cap.loads(_cap(language=text.replace("&", "&amp;")))
        except InvalidCAP as e:
            err = e
        refused = err is not None and "language: must be a language tag" in str(err)
        if text.strip(" \n") != text or text.strip(" \n") == "":
            continue  # XML collapses surrounding whitespace; an empty one takes the default
        assert refused is not want, (text, err)


def test_a_long_polygon_is_checked_in_memory_of_its_size() -> None:
    """100,000 points then a bad one: the whole text once cost some 110 bytes a character."""
    points = "59.1,18.1 " * 100_000 + "x"
    doc = _cap(area=f"<polygon>{points}</polygon>")
    peak, err = _peak(lambda: cap.read(doc))
    assert isinstance(err, InvalidCAP), err
    assert "point 100000 'x' is not 'lat,lon'" in str(err)
    assert peak < 40 * len(doc), (peak, len(doc), peak / len(doc))


def test_a_stray_quote_after_a_long_cell_of_doubled_quotes_is_named_in_memory_of_its_size(
    tmp_path: Path,
) -> None:
    """Text after the closing quote of a 2 MB JSON cell: refused naming the cell, not its text.

    The error's hint found the cell's closing quote by a regular expression that kept a
    backtracking point a doubled quote.
    """
    from geotarget._position_files import read

    cell = '{""k"":""v""},' * 150_000
    path = tmp_path / "p.csv"
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at,note\n"
        f'd1,18.06,59.33,10,2026-05-04T21:30:00+02:00,"{cell}"x\n',
        encoding="utf-8",
    )
    size = path.stat().st_size
    peak, err = _peak(lambda: read(path))
    assert isinstance(err, InvalidInput), err
    assert "note" in str(err)
    assert len(str(err)) < 2_000
    assert peak < 12 * size, (peak, size, peak / size)
