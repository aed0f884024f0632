from __future__ import annotations

import copy
import datetime as dt
import functools
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import example, given
from hypothesis import strategies as st

from geotarget import (
    Circle,
    InvalidInput,
    InvalidPositions,
    InvalidType,
    Location,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    StaleRule,
    UnknownCode,
    parse_time,
)
from geotarget import positions as positions_module

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def test_columns_are_numpy_arrays_of_fixed_dtypes() -> None:
    """A snapshot stores ids, lon, lat, accuracy, time and tester flags as typed numpy columns."""
    p = Positions(
        ["a", "b"],
        [18.0, 18.1],
        [59.0, 59.1],
        accuracy_m=[5, 10],
        observed_at=[NOW, NOW],
        tester=[True, False],
    )
    assert p.ids.dtype.kind == "U"
    assert p.lon.dtype == np.float64
    assert p.lat.dtype == np.float64
    assert p.accuracy_m.tolist() == [5.0, 10.0]
    assert p.observed_at.dtype == np.dtype("datetime64[us]")
    assert p.tester.tolist() == [True, False]
    assert len(p) == 2


def test_int_ids_are_int64() -> None:
    """Integer ids are stored as int64."""
    assert Positions([3, 1], [0.0, 1.0], [0.0, 1.0], observed_at=NOW).ids.dtype == np.int64


def test_columns_are_read_only_copies() -> None:
    """The snapshot copies its inputs and cannot be modified afterwards."""
    lon = np.array([18.0, 18.1])
    p = Positions([1, 2], lon, [59.0, 59.1], observed_at=NOW)
    lon[0] = 0.0
    assert p.lon[0] == 18.0
    with pytest.raises(ValueError, match="read-only"):
        p.lon[0] = 1.0


def test_no_fix_is_both_nan() -> None:
    """A device with lon and lat both NaN has no fix, is kept, and has NaN accuracy."""
    p = Positions([1, 2], [18.0, np.nan], [59.0, np.nan], observed_at=NOW)
    assert p.has_fix.tolist() == [True, False]
    assert np.isnan(p.accuracy_m[1])
    assert p.accuracy_m[0] == 0.0


def test_one_nan_coordinate_is_rejected_with_its_row() -> None:
    """Only one of lon/lat NaN is an error naming the row."""
    with pytest.raises(InvalidPositions, match=r"both NaN .* row 1\)"):
        Positions([1, 2, 3], [18.0, np.nan, 18.0], [59.0, 59.0, 59.0], observed_at=NOW)


def test_one_nan_coordinate_says_which_without_quoting_the_other() -> None:
    """Which of lon and lat is NaN is named per row group; the other coordinate is not quoted.

    The message quoted the coordinate given (a device's latitude, say); the rule is about which
    one is NaN, and a message is logged.
    """
    with pytest.raises(InvalidPositions) as info:
        Positions(
            [1, 2, 3, 4],
            [18.0653917, np.nan, 18.0653917, np.nan],
            [np.nan, 59.3326471, 59.3326471, 59.3326471],
            observed_at=NOW,
        )
    assert str(info.value) == (
        "lon and lat must be both NaN (no fix) or both numbers (got lon NaN and lat a number "
        "at rows 1, 3; lon a number and lat NaN at row 0)"
    )
    with pytest.raises(InvalidPositions) as one:
        Positions([1], [18.0653917], [np.nan], observed_at=NOW)
    assert str(one.value).endswith("(got lon a number and lat NaN at row 0)")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ((18.0653917, 59.3326471), "tuple of 2 values"),
        ([18.0653917, 59.3326471], "list of 2 values"),
        (np.array([18.0653917, 59.3326471]), "ndarray of 2 values"),
        ({"lon": 18.0653917, "lat": 59.3326471}, "dict of 2 values"),
        (1716206400.0, "float 1716206400.0"),
        ("2024-05-20T14:00", "str '2024-05-20T14:00'"),
        # A record of a structured array (records given instead of columns), a geometry:
        # their reprs are the position too.
        (
            np.array([(18.0653917, 59.3326471)], dtype=[("lon", "f8"), ("lat", "f8")])[0],
            "void of 2 values",
        ),
        (
            np.array((18.0653917, 59.3326471), dtype=[("lon", "f8"), ("lat", "f8")]),
            "ndarray of 1 value",
        ),
        (shapely.Point(18.0653917, 59.3326471), "Point, not quoted"),
        (
            "59.3326471,18.0653917",
            "str, a text of 21 characters holding two decimal numbers, not quoted: it may be a "
            "position",
        ),
    ],
)
def test_a_time_that_is_a_sequence_is_described_not_quoted(value: object, shown: str) -> None:
    """A container where a time belongs is named by its type and size, a scalar quoted.

    A (lon, lat) pair given as a time was quoted whole: a device's position in a logged message.
    """
    with pytest.raises(InvalidType) as info:
        Positions([1, 2], [18.0, 18.1], [59.0, 59.1], observed_at=[NOW, value])
    assert str(info.value) == (
        f"observed_at must hold timezone-aware datetimes or None (got {shown} at row 1)"
    )


@pytest.mark.parametrize("text", ["59.3326471,18.0653917", "59,3326471 18,0653917"])
def test_parse_time_never_quotes_a_pair_written_as_text(text: str) -> None:
    """A text of two decimal numbers where a time belongs is described, not quoted.

    ``parse_time("59.3326471,18.0653917")`` quoted it: a position ("lat,lon" as CAP and map
    apps write it, or with decimal commas) in a message that is logged.
    """
    with pytest.raises(InvalidInput) as info:
        parse_time(text, field="observed_at[0]")
    assert str(info.value) == (
        "observed_at[0] must be an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or ...Z)"
        " (got a text of 21 characters holding two decimal numbers, not quoted: it may be a "
        "position)"
    )
    with pytest.raises(InvalidInput, match=r"\(got '2024-05-20T25:00\+02:00'\)$"):
        parse_time("2024-05-20T25:00+02:00")  # a time is still quoted


@pytest.mark.parametrize("text", ["674032 6580822", "674032;6580822", "6580822,674032"])
def test_parse_time_never_quotes_metres_written_as_text(text: str) -> None:
    """Two whole numbers of five digits or more where a time belongs are described, not quoted.

    ``parse_time("674032 6580822")`` quoted it: an easting and northing in SWEREF 99 TM metres,
    a device's position, in a message that is logged. A time's groups and an epoch time with
    a fraction are still quoted.
    """
    with pytest.raises(InvalidInput) as info:
        parse_time(text, field="observed_at[0]")
    assert str(info.value).endswith(
        " (got a text of 14 characters holding two numbers of five digits or more, not quoted: "
        "it may be a position in metres)"
    )
    assert "674032" not in str(info.value)
    with pytest.raises(InvalidInput, match=r"\(got '1764998400\.123456 UTC'\)$"):
        parse_time("1764998400.123456 UTC")
    with pytest.raises(InvalidInput, match=r"\(got '2024-05-20 25:00:00'\)$"):
        parse_time("2024-05-20 25:00:00")


def test_out_of_range_rows_are_all_counted() -> None:
    """Out-of-range coordinates are rejected, naming the first rows and how many more."""
    lat = np.full(8, 59.0)
    lat[[1, 2, 3, 4, 5, 7]] = 91.0
    with pytest.raises(
        InvalidPositions,
        match=r"lat must be finite and within \[-90, 90\] "
        r"\(got 91.0 at rows 1, 2, 3, 4, 5 and 1 more\)",
    ):
        Positions(list(range(8)), np.full(8, 18.0), lat, observed_at=NOW)


def test_infinite_lon_is_rejected() -> None:
    """Infinite longitudes are rejected."""
    with pytest.raises(InvalidPositions, match="row 0"):
        Positions([1], [np.inf], [59.0], observed_at=NOW)


def test_duplicate_ids_are_rejected_with_rows() -> None:
    """Duplicate ids are an error naming the id and both rows."""
    with pytest.raises(InvalidPositions, match=r"unique \(got 7 at rows 0, 2"):
        Positions([7, 8, 7], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], observed_at=NOW)


def test_mixed_id_types_are_rejected() -> None:
    """Ids mixing str and int are a type error."""
    with pytest.raises(InvalidType) as info:
        Positions(["a", "b", 1], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], observed_at=NOW)  # type: ignore[arg-type]
    assert str(info.value) == (
        "ids must all be str or all be int (got str at row 0 and int at row 2: write them all "
        "as text)"
    )
    with pytest.raises(InvalidType) as info:
        Positions([1, 2, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], observed_at=NOW)  # type: ignore[arg-type]
    assert str(info.value) == "ids must all be str or all be int (got float 3.0 at row 2)"
    with pytest.raises(InvalidType) as info:
        Positions([1, (18.07, 59.33)], [1.0, 2.0], [1.0, 2.0], observed_at=NOW)  # type: ignore[arg-type]
    assert str(info.value) == "ids must all be str or all be int (got tuple of 2 values at row 1)"


@pytest.mark.parametrize("ids", [5, 5.5, None, NOW, object()])
def test_ids_that_are_not_a_sequence_are_a_type_error(ids: Any) -> None:
    """One number, None, a datetime: InvalidType (an int raised TypeError from list())."""
    with pytest.raises(InvalidType, match="ids must be a sequence of str or int ids"):
        Positions(ids, [1.0], [1.0], observed_at=NOW)


_COLUMNS = {
    "ids": [1, 2],
    "lon": [18.0, 18.1],
    "lat": [59.0, 59.1],
    "accuracy_m": [5.0, 6.0],
    "observed_at": [NOW, NOW],
    "tester": [False, True],
}


@pytest.mark.parametrize("field", list(_COLUMNS))
@pytest.mark.parametrize("unordered", [set, frozenset, dict.fromkeys])
def test_an_unordered_column_is_refused_naming_its_field(field: str, unordered: Any) -> None:
    """A set, frozenset or dict as any column is InvalidType naming it (was paired in hash order)."""
    columns: dict[str, Any] = dict(_COLUMNS)
    columns[field] = unordered(columns[field])
    ids, lon, lat = columns.pop("ids"), columns.pop("lon"), columns.pop("lat")
    with pytest.raises(
        InvalidType, match=rf"^{field} must be an ordered sequence or array .* not an unordered "
    ):
        Positions(ids, lon, lat, **columns)


@pytest.mark.parametrize("field", list(_COLUMNS))
@pytest.mark.parametrize(
    "one_shot", [iter, lambda v: (x for x in v), functools.partial(map, copy.copy)]
)
def test_an_iterator_as_a_column_is_refused_naming_its_field(field: str, one_shot: Any) -> None:
    """A generator, ``map`` or iterator is InvalidType naming the field and asking for a list.

    numpy read it as one object ("lon must be numbers (got dtype object)"), observed_at said
    "(got generator)", and ids took it: every column now says the same.
    """
    columns: dict[str, Any] = dict(_COLUMNS)
    columns[field] = one_shot(columns[field])
    ids, lon, lat = columns.pop("ids"), columns.pop("lon"), columns.pop("lat")
    with pytest.raises(
        InvalidType,
        match=rf"^{field} must be a sequence or array .* not a one-shot iterator \(got \w+; "
        r"pass list\(\.\.\.\)\)$",
    ):
        Positions(ids, lon, lat, **columns)


def test_dict_values_as_a_column_are_refused_as_not_a_sequence() -> None:
    """``dict.values()`` (iterable, no sequence) is refused naming the field, not read as one object."""
    with pytest.raises(InvalidType, match=r"^lon must be a sequence .* \(got dict_values; "):
        Positions([1, 2], {1: 18.0, 2: 18.1}.values(), [59.0, 59.1], observed_at=NOW)


@pytest.mark.parametrize(
    ("field", "hint"),
    [
        ("lon", "a device without a fix has lon and lat both NaN"),
        ("lat", "a device without a fix has lon and lat both NaN"),
        ("accuracy_m", "a row without a fix may have NaN"),
    ],
)
def test_none_among_numbers_says_a_missing_value_is_nan(field: str, hint: str) -> None:
    """None among coordinates or accuracies names the field and row and says NaN is missing."""
    columns: dict[str, Any] = dict(_COLUMNS)
    columns[field] = [columns[field][0], None]
    del columns["tester"]
    ids, lon, lat = columns.pop("ids"), columns.pop("lon"), columns.pop("lat")
    with pytest.raises(
        InvalidType, match=rf"^{field} must be numbers, not None: {hint} \(got None at row 1\)$"
    ):
        Positions(ids, lon, lat, **columns)


def test_empty_string_id_is_rejected() -> None:
    """An empty string is not a device id."""
    with pytest.raises(InvalidPositions, match="non-empty"):
        Positions(["a", ""], [1.0, 2.0], [1.0, 2.0], observed_at=NOW)


@pytest.mark.parametrize(
    "ids",
    [
        ["a", "b\x00c"],
        ["a", "b\x00"],
        np.array(["a", "b\x00c"]),
        np.array(["a", "b\x00c"], dtype=object),
    ],
)
def test_ids_holding_a_nul_are_rejected(ids: Any) -> None:
    """A NUL in a text id is refused, trailing or not.

    numpy drops trailing ones (the id "b" plus a NUL became "b", another device's id), and
    stores that keep texts as C strings cut them at the first one.
    """
    with pytest.raises(
        InvalidPositions, match=r"ids must be texts without NUL \(got '.*' at row 1\)"
    ):
        Positions(ids, [1.0, 2.0], [1.0, 2.0], observed_at=NOW)


@pytest.mark.parametrize("ids", [["a", "b\ud800c"], np.array(["a", "\udfff"])])
def test_ids_holding_a_lone_surrogate_are_rejected(ids: Any) -> None:
    """A lone surrogate is no Unicode text: no store, file or JSON reply can hold the id."""
    with pytest.raises(InvalidPositions, match=r"ids must be valid Unicode .* at row 1\)"):
        Positions(ids, [1.0, 2.0], [1.0, 2.0], observed_at=NOW)


def test_bool_coordinates_are_rejected() -> None:
    """Booleans are not coordinates."""
    with pytest.raises(InvalidType, match="lon must be numbers"):
        Positions([1], [True], [59.0], observed_at=NOW)


def test_length_mismatch_is_rejected() -> None:
    """Every column must have one value per id."""
    with pytest.raises(
        InvalidPositions, match=r"lat must have one value per id, shape \(2,\) \(got shape \(1,\)\)"
    ):
        Positions([1, 2], [1.0, 2.0], [1.0], observed_at=NOW)


@pytest.mark.parametrize(("field", "value"), [("accuracy_m", 20.0), ("tester", True)])
@pytest.mark.parametrize("n", [0, 2])
def test_a_lone_value_for_a_column_is_named_so(field: str, value: object, n: int) -> None:
    """A single number or flag where a column belongs: the error says so (not "got ()")."""
    with pytest.raises(
        InvalidPositions,
        match=rf"^{field} must have one value per id, shape \({n},\) \(got a single value\)$",
    ):
        Positions(list(range(n)), [18.0] * n, [59.0] * n, observed_at=NOW, **{field: value})


def test_negative_accuracy_is_rejected() -> None:
    """Accuracy must be finite and non-negative for rows with a fix."""
    with pytest.raises(InvalidPositions, match=r"accuracy_m must be finite, >= 0.*row 1"):
        Positions([1, 2], [1.0, 2.0], [1.0, 2.0], accuracy_m=[1.0, -1.0], observed_at=NOW)


@pytest.mark.parametrize("huge", [40_075_018.0, 1e200, 1.7e308])
def test_an_accuracy_beyond_the_earths_circumference_is_rejected(huge: float) -> None:
    """Corrupt accuracies are refused by row (one overflowed a polygon's classification)."""
    with pytest.raises(InvalidPositions, match=r"<= 40,075,017 \(the Earth's circumference\)"):
        Positions([1, 2], [1.0, 2.0], [1.0, 2.0], accuracy_m=[1.0, huge], observed_at=NOW)
    whole = Positions([1], [18.0], [59.0], accuracy_m=[40_075_017.0], observed_at=NOW)
    square = Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)])
    rows, ranks = PositionIndex(whole).classify(square, LocationRule(accuracy=10.0), NOW)
    assert rows.tolist() == [0] and ranks.tolist() == [Location.AMBIGUOUS.value]


def test_nan_accuracy_is_allowed_without_fix() -> None:
    """A row without a fix may have NaN accuracy."""
    p = Positions([1, 2], [1.0, np.nan], [1.0, np.nan], accuracy_m=[1.0, np.nan], observed_at=NOW)
    assert np.isnan(p.accuracy_m[1])


def test_observed_at_accepts_aware_datetimes_in_any_zone() -> None:
    """Aware datetimes are stored as UTC; None means unknown."""
    cet = dt.timezone(dt.timedelta(hours=2))
    p = Positions(
        [1, 2],
        [1.0, 2.0],
        [1.0, 2.0],
        observed_at=[dt.datetime(2025, 5, 1, 14, 0, tzinfo=cet), None],
    )
    assert p.observed_at[0] == np.datetime64("2025-05-01T12:00:00")
    assert np.isnat(p.observed_at[1])


def test_observed_at_accepts_datetime64_as_utc() -> None:
    """A datetime64 array is read as UTC."""
    t = np.array(["2025-05-01T12:00:00"], dtype="datetime64[s]")
    p = Positions([1], [1.0], [1.0], observed_at=t)
    assert p.age_seconds(NOW).tolist() == [0.0]


def test_observed_at_accepts_a_timezone_aware_pandas_series_or_index() -> None:
    """A tz-aware Series or DatetimeIndex in any zone is read as its UTC instants, NaT unknown.

    It was refused ("must be a sequence ... (got Series)").
    """
    pd = pytest.importorskip("pandas")
    local = pd.Series(
        pd.to_datetime(["2025-05-01T14:00:00.123456789+02:00", None], utc=True)
    ).dt.tz_convert("Europe/Stockholm")
    want = np.array(["2025-05-01T12:00:00.123456", "NaT"], dtype="datetime64[us]")
    for column in (local, pd.DatetimeIndex(local), local.dt.tz_convert("UTC")):
        p = Positions([1, 2], [18.0, 18.1], [59.0, 59.1], observed_at=column)
        np.testing.assert_array_equal(p.observed_at, want)
        assert p.observed_at.dtype == np.dtype("datetime64[us]")


def test_observed_at_reads_the_list_of_an_aware_series_as_the_series_nat_unknown() -> None:
    """``list(series)`` holds pandas Timestamps and NaT for a missing time: the same instants.

    Its NaT (the Series' own "unknown", read as such from the Series) was refused as "naive NaT".
    """
    pd = pytest.importorskip("pandas")
    local = pd.Series(
        pd.to_datetime(["2025-05-01T14:00:00.123456+02:00", None, None], utc=True)
    ).dt.tz_convert("Europe/Stockholm")
    want = Positions([1, 2, 3], [18.0] * 3, [59.0] * 3, observed_at=local).observed_at
    for items in (list(local), local.tolist(), [local[0], None, pd.NaT]):
        p = Positions([1, 2, 3], [18.0] * 3, [59.0] * 3, observed_at=items)
        np.testing.assert_array_equal(p.observed_at, want)
    # A naive Timestamp among them is still naive.
    with pytest.raises(InvalidPositions, match=r"must be timezone-aware \(got naive .* at row 1\)"):
        Positions([1, 2], [18.0] * 2, [59.0] * 2, observed_at=[local[0], pd.Timestamp(2025, 5, 1)])


def test_observed_at_refuses_a_naive_pandas_series_saying_how_to_give_its_zone() -> None:
    """A naive Series or DatetimeIndex is refused as naive, with the call that gives its zone."""
    pd = pytest.importorskip("pandas")
    naive = pd.Series(pd.to_datetime(["2025-05-01T12:00:00"]))
    with pytest.raises(
        InvalidPositions,
        match=r"^observed_at must be timezone-aware \(got a naive Series of dtype "
        r"datetime64\[\w+\]; say its zone, e\.g\. observed_at\.dt\.tz_localize\('UTC'\)",
    ):
        Positions([1], [18.0], [59.0], observed_at=naive)
    with pytest.raises(InvalidPositions, match=r"naive DatetimeIndex .* observed_at\.tz_localize"):
        Positions([1], [18.0], [59.0], observed_at=pd.DatetimeIndex(naive))


def test_naive_datetime_is_rejected() -> None:
    """A naive datetime is an error naming the row."""
    with pytest.raises(InvalidPositions, match=r"timezone-aware .* at row 0"):
        Positions([1], [1.0], [1.0], observed_at=[dt.datetime(2025, 5, 1)])


#: Written with an offset, each is a datetime; its instant lies in the year 0 or 10000 in UTC.
_BEYOND_UTC = ["0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00", "0001-01-01T00:59:59+01:00"]


@pytest.mark.parametrize("text", _BEYOND_UTC)
def test_parse_time_and_positions_agree_on_the_years_an_instant_may_lie_in(text: str) -> None:
    """Years 1 to 9999 in UTC: parse_time refuses beyond them, Positions too (never Overflow).

    (parse_time read these texts; Positions then raised a bare OverflowError.)
    """
    from geotarget import parse_time
    from geotarget.errors import InvalidInput

    rule = "must lie within the years 1 to 9999 in UTC"
    with pytest.raises(InvalidInput) as info:
        parse_time(text, field="observed_at[2]")
    assert str(info.value) == f"observed_at[2] {rule} (got {text!r})"
    at = dt.datetime.fromisoformat(text)  # what a caller may still hold
    shown = at.isoformat()
    with pytest.raises(InvalidPositions) as one:
        Positions([1], [18.0], [59.0], observed_at=at)
    assert str(one.value) == f"observed_at {rule} (got {shown})"
    with pytest.raises(InvalidPositions) as column:
        Positions([1, 2], [18.0, 18.1], [59.0, 59.1], observed_at=[NOW, at])
    assert str(column.value) == f"observed_at {rule} (got {shown} at row 1)"
    with pytest.raises(InvalidPositions, match=f"^at {rule}"):
        Positions([1], [18.0], [59.0], observed_at=NOW).age_seconds(at)
    # The ends of the years themselves are instants, read and kept.
    for edge in ("0001-01-01T00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59+00:00"):
        kept = Positions([1], [18.0], [59.0], observed_at=parse_time(edge)).observed_at
        assert kept[0] == np.datetime64(edge.replace("Z", "").replace("+00:00", ""), "us")


@pytest.mark.parametrize(
    ("stamps", "shown"),
    [
        (np.array([0, 2**62], dtype="datetime64[s]"), "146138514283-06-19T07:45:04 at row 1"),
        (np.array(["NaT", "10000-01-01T00"], dtype="datetime64[h]"), "10000-01-01T00 at row 1"),
        (np.array(["-0001-12-31T23:00"], dtype="datetime64[m]"), "-001-12-31T23:00 at row 0"),
    ],
)
def test_datetime64_columns_keep_to_the_same_years_and_never_wrap(
    stamps: np.ndarray[Any, Any], shown: str
) -> None:
    """A coarse datetime64 past microseconds' range wrapped silently (2**62 s became 1970)."""
    with pytest.raises(InvalidPositions) as info:
        Positions(list(range(stamps.size)), [18.0] * stamps.size, [59.0] * stamps.size,
                  observed_at=stamps)  # fmt: skip
    rule = "must lie within the years 1 to 9999 in UTC"
    assert str(info.value) == f"observed_at {rule} (got {shown})"
    fine = np.array(["NaT", "0001-01-01", "9999-12-31T23:59:59.999999"], "datetime64[us]")
    got = Positions([1, 2, 3], [18.0] * 3, [59.0] * 3, observed_at=fine).observed_at
    assert np.datetime_as_string(got).tolist() == [
        "NaT", "0001-01-01T00:00:00.000000", "9999-12-31T23:59:59.999999"
    ]  # fmt: skip
    nanos = np.array(["2024-05-20T14:00:00.123456789"], "datetime64[ns]")  # floored, not wrapped
    got = Positions([1], [18.0], [59.0], observed_at=nanos).observed_at
    assert np.datetime_as_string(got).tolist() == ["2024-05-20T14:00:00.123456"]


def test_epoch_numbers_are_rejected_with_a_hint() -> None:
    """Bare epoch numbers are ambiguous and rejected with a conversion hint."""
    with pytest.raises(InvalidType, match=r"astype\('datetime64\[s\]'\)"):
        Positions([1], [1.0], [1.0], observed_at=np.array([1.7e9]))


def test_tester_must_be_boolean() -> None:
    """The tester column must be booleans."""
    with pytest.raises(InvalidType, match="tester must be booleans"):
        Positions([1], [1.0], [1.0], tester=[1], observed_at=NOW)


def test_rows_of_finds_rows_and_names_missing_ids() -> None:
    """rows_of maps ids to rows and names an unknown id."""
    p = Positions(["x", "y", "z"], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], observed_at=NOW)
    assert p.rows_of(["z", "x"]).tolist() == [2, 0]
    with pytest.raises(UnknownCode, match="'w'"):
        p.rows_of(["w"])


def test_age_needs_an_aware_time() -> None:
    """Ages are computed against an aware time; a naive one is rejected."""
    p = Positions([1], [1.0], [1.0], observed_at=[NOW - dt.timedelta(seconds=90)])
    assert p.age_seconds(NOW).tolist() == [90.0]
    with pytest.raises(InvalidPositions, match="timezone-aware"):
        p.age_seconds(dt.datetime(2025, 5, 1))


def test_location_values_are_the_wire_values() -> None:
    """The Location enum's integer values are fixed."""
    assert [(m.name, int(m)) for m in Location] == [
        ("OUTSIDE", 0),
        ("INSIDE", 1),
        ("AMBIGUOUS", 2),
        ("UNKNOWN", 3),
    ]


def test_location_rule_validates() -> None:
    """A rule rejects a negative max_age, a non-timedelta and a bad accuracy factor."""
    assert LocationRule() == LocationRule(max_age=None, accuracy=1.0)
    with pytest.raises(InvalidPositions, match="max_age must be >= 0"):
        LocationRule(max_age=dt.timedelta(seconds=-1))
    with pytest.raises(InvalidType, match=r"max_age must be a datetime\.timedelta"):
        LocationRule(max_age=60)
    # timedelta.max reads as "no limit" but overflowed classify's cutoff: None says that.
    ok = LocationRule(max_age=dt.timedelta(days=3_652_425))
    for rule in (LocationRule, lambda **kw: StaleRule(margin_m=0.0, **kw)):
        with pytest.raises(InvalidPositions, match=r"at most 3,652,425 days .*max_age=None"):
            rule(max_age=dt.timedelta.max)
    # The longest allowed age classifies (year-1 instants included) without overflow or wrap.
    snap = Positions(
        ["a"], [18.0], [59.0], observed_at=dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc)
    )
    for at in (
        dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc),
        dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc),
    ):
        rows, ranks = PositionIndex(snap).classify(Circle(18.0, 59.0, 10.0), ok, at)
        assert rows.tolist() == [0] and ranks.tolist() == [Location.INSIDE.value], at
    with pytest.raises(InvalidPositions, match="accuracy must be"):
        LocationRule(accuracy=-1.0)
    with pytest.raises(InvalidType, match="accuracy must be"):
        LocationRule(accuracy=True)


def test_current_mask_applies_max_age() -> None:
    """Fixes older than max_age, or without a time, are not current; future fixes are."""
    p = Positions(
        [1, 2, 3, 4],
        [1.0, 1.0, 1.0, np.nan],
        [1.0, 1.0, 1.0, np.nan],
        observed_at=[NOW - dt.timedelta(minutes=10), NOW + dt.timedelta(minutes=1), None, NOW],
    )
    rule = LocationRule(max_age=dt.timedelta(minutes=5))
    assert positions_module._current_mask(p, rule, NOW).tolist() == [False, True, False, False]
    assert positions_module._current_mask(p, LocationRule(), NOW).tolist() == [
        True,
        True,
        True,
        False,
    ]


def test_public_names() -> None:
    """The module exposes exactly its documented names."""
    assert dir(positions_module) == [
        "Location",
        "LocationRule",
        "Positions",
        "StaleRule",
        "parse_time",
    ]


def test_observed_at_is_required_with_a_hint() -> None:
    """A snapshot without observed_at is refused, and the message says how to pass one."""
    with pytest.raises(InvalidPositions, match=r"observed_at is required: pass one timezone-aware"):
        Positions([1], [18.0], [59.0])


def test_one_datetime_dates_the_whole_snapshot() -> None:
    """One aware datetime stands for every row's observation time, stored as UTC."""
    cet = dt.timezone(dt.timedelta(hours=2))
    p = Positions([1, 2], [18.0, np.nan], [59.0, np.nan], observed_at=NOW.astimezone(cet))
    assert p.observed_at.tolist() == [NOW.replace(tzinfo=None)] * 2
    assert p.age_seconds(NOW).tolist() == [0.0, 0.0]
    with pytest.raises(InvalidPositions, match=r"observed_at must be timezone-aware \(got naive"):
        Positions([1], [18.0], [59.0], observed_at=dt.datetime(2025, 5, 1))


def test_repr_shows_counts_not_positions() -> None:
    """The repr is safe to log: counts only, never ids or coordinates."""
    p = Positions(["secret-id"], [18.123456], [59.654321], observed_at=NOW, tester=[True])
    text = repr(p)
    assert text == "<Positions: 1 device, 1 with a fix, 1 tester>"
    assert "secret" not in text and "18.12" not in text
    two = Positions([1, 2], [18.0, np.nan], [59.0, np.nan], observed_at=NOW)
    assert repr(two) == "<Positions: 2 devices, 1 with a fix, 0 testers>"


def test_stale_rule_validates() -> None:
    """A stale rule needs a positive timedelta and a margin within [0, 50 km]."""
    from geotarget import StaleRule

    rule = StaleRule(max_age=dt.timedelta(hours=24), margin_m=1000)
    assert rule.margin_m == 1000.0
    with pytest.raises(InvalidPositions, match=r"max_age must be > 0"):
        StaleRule(max_age=dt.timedelta(0), margin_m=0.0)
    with pytest.raises(InvalidType, match=r"max_age must be a datetime\.timedelta"):
        StaleRule(max_age=3600, margin_m=0.0)
    with pytest.raises(InvalidPositions, match=r"margin_m must be .* <= 50000 \(got 60000"):
        StaleRule(max_age=dt.timedelta(hours=1), margin_m=60000)
    with pytest.raises(InvalidType, match="margin_m must be"):
        StaleRule(max_age=dt.timedelta(hours=1), margin_m=True)


def test_rows_of_refuses_what_is_not_ids_and_names_a_missing_id_plainly() -> None:
    """One id, a number or None: InvalidType (was IndexError or TypeError from numpy).

    A str id asked of an int snapshot, or the reverse, is found by its text (numpy cannot
    even order one against the other: it is compared in the snapshot's kind); one that is
    no int's text is unknown, and the missing id is shown as the Python value.
    """
    p = Positions([7, 3, 5], [18.0, 18.1, 18.2], [59.0, 59.1, 59.2], observed_at=NOW)
    for bad in (5, "7", None, 5.5):
        with pytest.raises(InvalidType, match="ids must be a sequence of str or int ids"):
            p.rows_of(bad)  # type: ignore[arg-type]
    with pytest.raises(UnknownCode, match=r"\(got unknown id '007'\)$"):
        p.rows_of(["007"])
    with pytest.raises(UnknownCode, match=r"\(got unknown id 99\)$"):
        p.rows_of([7, 99])
    assert p.rows_of([]).tolist() == []


_ID_LISTS = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=60, unique=True),
    st.lists(
        st.text(alphabet="0123456789abcXYZ-é\u4e2d\U0001f600", min_size=1, max_size=8),
        min_size=1,
        max_size=60,
        unique=True,
    ),
)


@given(_ID_LISTS, st.data())
@example([3, 1, 2], None)  # every row, out of order
@example([1, 2, 3], None)  # in order already: None
@example(["b", "10", "9", "a"], None)  # text: code point order, not numeric
def test_rows_in_id_order_sort_their_ids(ids: list[Any], data: Any) -> None:
    """The permutation puts the rows' ids in ascending order (Python's sort is the oracle)."""
    p = Positions(ids, [18.0] * len(ids), [59.0] * len(ids), observed_at=NOW)
    every = list(range(len(ids)))
    rows = every if data is None else sorted(data.draw(st.sets(st.sampled_from(every))))
    got = p.id_order(np.array(rows, dtype=np.int32))
    ordered = rows if got is None else [rows[i] for i in got.tolist()]
    assert sorted(ordered) == rows  # a permutation of the rows
    assert [ids[r] for r in ordered] == sorted(ids[r] for r in rows)
    assert (got is None) == ([ids[r] for r in rows] == sorted(ids[r] for r in rows))
    # The ids themselves, ascending (ints sorted as they are, text through the permutation).
    assert p.sorted_ids(np.array(rows, dtype=np.int32)).tolist() == sorted(ids[r] for r in rows)


@pytest.mark.parametrize(
    ("rows", "error", "match"),
    [
        ([0, 3], InvalidInput, r"rows must lie in the snapshot, 0 to 2 \(got row 3\)"),
        ([-1, 0], InvalidInput, r"got row -1"),
        ([[0, 1]], InvalidType, "1-D array of integer row indices"),
        ([0.0, 1.0], InvalidType, "1-D array of integer row indices"),
        (["0"], InvalidType, "1-D array of integer row indices"),
    ],
)
def test_rows_given_for_their_ids_are_checked(
    rows: Any, error: type[Exception], match: str
) -> None:
    p = Positions([7, 3, 5], [18.0] * 3, [59.0] * 3, observed_at=NOW)
    with pytest.raises(error, match=match):
        p.sorted_ids(rows)
    with pytest.raises(error, match=match):
        p.id_order(rows)
    assert p.sorted_ids([]).tolist() == [] and p.id_order([]) is None
