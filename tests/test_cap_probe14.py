"""CAP input as real alerting systems send it, probe 14: other senders' times and shapes.

NWS watches expire (as messages) before their event's onset; Pacific issuers draw areas across
the 180° meridian. The oracle is the document's own times (which instants lie in a block's
window, counted by hand) and the place a ring outlines (shapely on the ring split by hand at
180°, and pyproj's geodesic distances).
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

import pytest

from geotarget import cap
from geotarget.errors import InvalidCAP

NS = "urn:oasis:names:tc:emergency:cap:1.2"
CST = timezone(timedelta(hours=-6))


def _doc(times: str, area: str = "<circle>61.2,-149.9 10</circle>") -> str:
    """A one-block CAP 1.2 document with the block's ``times`` and an ``area`` body."""
    return (
        f'<alert xmlns="{NS}"><identifier>NWS-1</identifier><sender>w-nws.webmaster@noaa.gov'
        "</sender><sent>2026-01-10T03:00:00-06:00</sent><status>Actual</status><msgType>Alert"
        "</msgType><scope>Public</scope><info><category>Met</category><event>Winter Storm Watch"
        "</event><urgency>Future</urgency><severity>Severe</severity><certainty>Possible"
        f"</certainty>{times}<area><areaDesc>Zone</areaDesc>{area}</area></info></alert>"
    )


# --- an expires before the onset of a block already in effect --------------------------------


def test_a_watch_expiring_before_its_events_onset_is_not_called_never_active() -> None:
    """Effective 03:00, expires 16:00, onset tomorrow 18:00: the block IS told 03:00 to 16:00."""
    doc = _doc(
        "<effective>2026-01-10T03:00:00-06:00</effective>"
        "<onset>2026-01-11T18:00:00-06:00</onset>"
        "<expires>2026-01-10T16:00:00-06:00</expires>"
    )
    parsed = cap.read(doc)
    # The oracle: the instants the document itself names, hour by hour.
    told = [
        h
        for h in range(0, 48)
        if parsed.alert.is_active(datetime(2026, 1, 10, tzinfo=CST) + timedelta(hours=h))
    ]
    assert told == list(range(3, 16))
    for warning in parsed.warnings:
        assert "never active" not in warning.message, warning
    [warning] = parsed.warnings
    assert warning.path == "info[0]/expires"
    assert "before onset" in warning.message and "effective" in warning.message


@pytest.mark.parametrize(
    ("times", "start"),
    [
        (  # expires before both: one warning, naming the block's start (effective)
            "<effective>2026-01-10T05:00:00-06:00</effective>"
            "<onset>2026-01-10T06:00:00-06:00</onset>"
            "<expires>2026-01-10T04:00:00-06:00</expires>",
            "effective",
        ),
        (  # onset first, effective after expires: the block starts at effective
            "<effective>2026-01-10T05:00:00-06:00</effective>"
            "<onset>2026-01-10T03:00:00-06:00</onset>"
            "<expires>2026-01-10T05:00:00-06:00</expires>",
            "effective",
        ),
        (  # no effective: the block starts at its onset
            "<onset>2026-01-10T05:00:00-06:00</onset><expires>2026-01-10T04:00:00-06:00</expires>",
            "onset",
        ),
    ],
)
def test_a_block_whose_window_is_empty_is_called_never_active_once(times: str, start: str) -> None:
    """Never active is said once, of the block's real start, and no hour of the day is told."""
    parsed = cap.read(_doc(times))
    t0 = datetime(2026, 1, 10, tzinfo=CST)
    assert not any(parsed.alert.is_active(t0 + timedelta(minutes=m)) for m in range(0, 1440, 30))
    [warning] = parsed.warnings
    assert warning.message.split(" (")[0].endswith(start)
    assert "never active" in warning.message


# --- <references> chains -----------------------------------------------------------------------


def _update(references: str, sent: str = "2026-01-10T03:00:00-06:00") -> str:
    """The watch of :func:`_doc` as an Update sent at ``sent`` with ``references``' text."""
    doc = _doc("<expires>2026-01-10T16:00:00-06:00</expires>")
    doc = doc.replace("<sent>2026-01-10T03:00:00-06:00</sent>", f"<sent>{sent}</sent>")
    return doc.replace("<msgType>Alert</msgType><scope>Public</scope>", (
        f"<msgType>Update</msgType><scope>Public</scope><references>{references}</references>"
    ))  # fmt: skip


@pytest.mark.parametrize(
    ("written", "later"),
    [
        ("2026-01-10T02:00:00-06:00", False),  # an hour before: as CAP means it
        ("2026-01-10T08:30:00-00:00", False),  # the same hour written in UTC: earlier
        ("2026-01-10T03:00:00-06:00", False),  # the same second
        ("2026-01-10T10:00:00-00:00", True),  # a UTC time written an hour late
        ("2026-01-10T03:00:00-07:00", True),  # Mountain, not Central, time: an hour late
        ("2026-01-11T02:00:00-06:00", True),  # tomorrow
    ],
)
def test_a_reference_to_a_message_sent_after_this_one_is_warned_of(
    written: str, later: bool
) -> None:
    """CAP's references name earlier messages: one sent later (an offset wrong) is warned of."""
    parsed = cap.read(_update(f"w-nws.webmaster@noaa.gov,NWS-0,{written}"))
    sent = datetime(2026, 1, 10, 3, 0, tzinfo=CST)  # the oracle: this message's own sent
    [ref] = parsed.alert.references
    assert (ref.sent > sent) == later
    warned = [w for w in parsed.warnings if w.path == "references"]
    assert bool(warned) == later
    if later:
        assert "item 0" in warned[0].message and "after this one" in warned[0].message


@pytest.mark.parametrize("separator", [";", "|", ";\n"])
def test_triples_joined_by_a_semicolon_or_bar_are_refused_saying_whitespace(
    separator: str,
) -> None:
    """Two triples joined by ';' or '|' are one bad item, and the message names the separator."""
    triple = "w-nws.webmaster@noaa.gov,NWS-0,2026-01-10T02:00:00-06:00"
    with pytest.raises(InvalidCAP) as err:
        cap.loads(_update(f"{triple}{separator}{triple}"))
    [problem] = err.value.problems
    assert problem.path == "references"
    assert "separates triples by whitespace, not ';' or '|'" in problem.message


# --- which block a phone shows: script and region ---------------------------------------------


def _blocks(*languages: str) -> str:
    """A document of one block per language, each headed with its own language tag."""
    blocks = "".join(
        f"<info><language>{tag}</language><category>Met</category><event>Storm</event>"
        "<urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty>"
        f"<headline>{tag}</headline><area><areaDesc>Zone</areaDesc>"
        "<circle>25.03,121.56 20</circle></area></info>"
        for tag in languages
    )
    head = _doc("").split("<info>")[0]
    return f"{head}{blocks}</alert>"


#: (blocks as the issuer writes them, the phone's locale, the block its reader can read): a
#: reader of Traditional Chinese (Taiwan, Hong Kong, Macao) reads zh-TW, not zh-CN's
#: Simplified script; a reader of Serbian in Latin script reads sr-Latn, not Cyrillic sr.
READABLE = [
    (("zh-CN", "zh-TW", "en"), "zh-Hant-TW", "zh-TW"),
    (("zh-CN", "zh-TW", "en"), "zh-Hant-HK", "zh-TW"),
    (("zh-CN", "zh-TW", "en"), "zh-HK", "zh-TW"),
    (("zh-CN", "zh-TW", "en"), "zh-Hans-SG", "zh-CN"),
    (("zh-Hans", "zh-Hant"), "zh-TW", "zh-Hant"),
    (("zh-Hans", "zh-Hant"), "zh-MO", "zh-Hant"),
    (("zh-Hans", "zh-Hant"), "zh-CN", "zh-Hans"),
    (("sr", "sr-Latn", "en-GB"), "sr-Latn-RS", "sr-Latn"),
    (("sr", "sr-Latn", "en-GB"), "sr-RS", "sr"),  # (Cyrillic, Serbia's default)
    (("en-US", "es-US", "es-MX"), "es-MX", "es-MX"),
    (("en-US", "es-US", "fr-CA"), "es-419", "es-US"),  # same language, no shared mark: first
    (("en-US", "es-US", "es-MX"), "es-US", "es-US"),
    (("no", "nn-NO", "en-GB"), "nb-NO", "no"),  # Nynorsk shares the region, not the language
    (("fr-CA", "en-CA"), "fr-FR", "fr-CA"),
]


@pytest.mark.parametrize(("blocks", "locale", "readable"), READABLE)
def test_a_phone_is_shown_the_block_in_its_script_and_region(
    blocks: tuple[str, ...], locale: str, readable: str
) -> None:
    """Among blocks of its language, a phone gets the one sharing its script or region."""
    alert = cap.loads(_blocks(*blocks))
    chosen = alert.info_for(locale)
    assert chosen is not None and chosen.headline == readable
    # The same choice device by device, for a crowd of phones in this and other locales.
    locales = [locale, "en-GB", locale.replace("-", "_"), "ar-EG"]
    picked = alert.info_indices(locales, [121.56] * 4, [25.03] * 4)
    english = next((k for k, b in enumerate(blocks) if b.startswith("en")), 0)
    assert picked.tolist() == [blocks.index(readable), english, blocks.index(readable), english]


# --- a document written in EBCDIC ----------------------------------------------------------------

#: Text of characters every EBCDIC code page below holds, some at other bytes in each.
MAINFRAME_TEXT = "Zürich [Nord] | ¬ ¢ ! {Ost}"


@pytest.mark.parametrize("page", ["cp500", "cp037", "cp1140", "cp273", "cp1026"])
def test_a_document_in_an_ebcdic_code_page_it_declares_is_read_in_it(page: str) -> None:
    """XML 1.0 Appendix F: '<?xm' as 4C 6F A7 94 is EBCDIC, read in the code page declared."""
    doc = f'<?xml version="1.0" encoding="{page}"?>' + _doc(
        "", f"<circle>47.4,8.5 5</circle></area><area><areaDesc>{MAINFRAME_TEXT}</areaDesc>"
    )
    raw = doc.encode(page)
    assert raw[:4] == bytes.fromhex("4C6FA794")  # (the oracle: the bytes themselves)
    alert = cap.loads(raw)
    assert alert.infos[0].areas[1].description == MAINFRAME_TEXT
    assert alert == cap.loads(doc.replace(f'encoding="{page}"', 'encoding="UTF-8"'))


@pytest.mark.parametrize(
    ("declaration", "said"),
    [
        ('<?xml version="1.0"?>', "no encoding declaration follows"),
        ('<?xml version="1.0" encoding="UTF-8"?>', "says encoding='UTF-8'"),
        ('<?xml version="1.0" encoding="ISO-8859-1"?>', "says encoding='ISO-8859-1'"),
    ],
)
def test_ebcdic_bytes_without_their_code_page_declared_are_refused_saying_ebcdic(
    declaration: str, said: str
) -> None:
    """EBCDIC bytes are never called 'not valid UTF-8, which XML assumes without a declaration'."""
    raw = (declaration + _doc("")).encode("cp500")
    with pytest.raises(InvalidCAP) as err:
        cap.loads(raw)
    [problem] = err.value.problems
    assert "EBCDIC" in problem.message and said in problem.message
    assert "declares none" not in problem.message


# --- the XML declaration's version -------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "well_formed"),
    [("1.0", True), ("1.1", True), ("1.10", True), ("2.0", False), ("1.", False), ("abc", False)],
)
def test_an_xml_declaration_of_no_xml_1_version_is_refused(version: str, well_formed: bool) -> None:
    """XML 1.0 §2.8 VersionNum is '1.' [0-9]+ (1.x read as 1.0); '2.0' or 'abc' is not XML."""
    head = f'<?xml version="{version}" encoding="UTF-8"?>'
    body = _doc("<expires>2026-01-10T16:00:00-06:00</expires>")
    assert (re.fullmatch(r"1\.[0-9]+", version) is not None) == well_formed  # the production
    for data in (head + body, (head + body).encode("utf-8")):
        if well_formed:
            assert cap.loads(data) == cap.loads(body)
            continue
        with pytest.raises(InvalidCAP) as err:
            cap.loads(data)
        [problem] = err.value.problems
        assert f"version={version!r}" in problem.message and "§2.8" in problem.message


@pytest.mark.parametrize(
    "declaration",
    [
        '<?xml encoding="UTF-8" version="1.0"?>',  # encoding first
        '<?xml encoding="UTF-8"?>',  # no version
        '<?xml version="1.0" standalone="maybe"?>',
        '<?XML version="1.0" encoding="UTF-8"?>',  # upper case
        '\ufeff<?Xml version="1.0"?>',
    ],
)
def test_a_declaration_written_wrong_is_refused_saying_how_one_is_written(
    declaration: str,
) -> None:
    """Not just 'XML declaration not well-formed': the order, the version, yes/no, lower case."""
    body = _doc("<expires>2026-01-10T16:00:00-06:00</expires>")
    for data in (declaration + body, (declaration + body).encode("utf-8")):
        with pytest.raises(InvalidCAP) as err:
            cap.loads(data)
        [problem] = err.value.problems
        assert "version (required, first), encoding and standalone" in problem.message
        assert '<?xml version="1.0" encoding="UTF-8"?>' in problem.message


# --- a CAP document as a feed carried it -------------------------------------------------------


def test_an_alert_still_wrapped_in_cdata_or_escaped_says_to_unwrap_it() -> None:
    """A feed's <description> carries CAP in CDATA or escaped: the refusal says to take it out."""
    body = _doc("<expires>2026-01-10T16:00:00-06:00</expires>")
    for given in (f"<![CDATA[{body}]]>", f'<?xml version="1.0"?>\n<![CDATA[{body}]]>'):
        with pytest.raises(InvalidCAP) as err:
            cap.loads(given)
        assert "wrapped in <![CDATA[" in err.value.problems[0].message
    escaped = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    with pytest.raises(InvalidCAP) as err:
        cap.loads(escaped)
    assert "unescape it first" in err.value.problems[0].message
    after = body + "<![CDATA[note]]>"  # after the root: the rule only
    with pytest.raises(InvalidCAP) as err:
        cap.loads(after)
    message = err.value.problems[0].message
    assert "comes after the root element" in message and "wrapped" not in message
    # The oracle of the remedy: unescaped, the document reads.
    assert cap.loads(html.unescape(escaped)) == cap.loads(body)
