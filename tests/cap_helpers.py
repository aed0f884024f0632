"""Shared CAP test material: a valid document to mutate, envelopes, and small helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from geotarget import Circle, InvalidCAP, cap, pilot
from geotarget.alerts import Alert

NS = "urn:oasis:names:tc:emergency:cap:1.2"
UK = (-8.7, 49.8, 1.8, 60.9)
SWEDEN = (10.5, 55.3, 24.2, 69.1)


BASE = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>SE-POL-2026-0001</identifier>
  <sender>polisen@polisen.se</sender>
  <sent>2026-05-04T21:30:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>sv-SE</language>
    <category>Safety</category>
    <event>Explosion</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <onset>2026-05-04T21:30:00+02:00</onset>
    <expires>2026-05-04T23:30:00+02:00</expires>
    <headline>Explosion vid Sergels torg</headline>
    <area>
      <areaDesc>Sergels torg</areaDesc>
      <polygon>59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06</polygon>
      <circle>59.3325,18.06528 0.5</circle>
    </area>
  </info>
</alert>
"""


def problems(data: str | bytes, **kw: Any) -> dict[str, str]:
    """The problems of a document that must fail, as {path: message}."""
    with pytest.raises(InvalidCAP) as info:
        cap.loads(data, **kw)
    return {p.path: p.message for p in info.value.problems}


def explosion() -> Alert:
    """The pilot Explosion alert of the docs, 500 m around Sergels torg, in sv and en."""
    t0 = datetime(2026, 5, 4, 21, 30, tzinfo=timezone(timedelta(hours=2)))
    sv = pilot.Message(headline="Explosion", description="Polisen är på plats.",
                    area_description="Sergels torg")  # fmt: skip
    en = pilot.Message(headline="Explosion", description="The police are on site.",
                    area_description="Sergels torg")  # fmt: skip
    return pilot.explosion(
        identifier="SE-POL-1", sender="polisen@polisen.se", sent=t0,
        area=Circle(18.06528, 59.3325, 500.0), sv=sv, en=en, onset=t0,
        expires=t0 + timedelta(hours=2),
    )  # fmt: skip
