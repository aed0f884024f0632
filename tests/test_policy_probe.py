"""Probes of the policy file as operators edit it: each bad entry named at its field's path."""

from __future__ import annotations

import pytest

from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer


def test_issuer_missing_and_empty_fields_are_each_named_at_their_path() -> None:
    """An issuer table missing fields, or with empty lists, names every such field at once.

    Building the Issuer reported only the first, at the entry's path, in Python's words
    ("Issuer.__init__() missing 3 required keyword-only arguments"), so an operator fixed one
    field per run.
    """
    doc = """
    [[issuers]]
    name = "polisen-syd"

    [[issuers]]
    name = "polisen-vast"
    senders = []
    kinds = []
    regions = []
    """
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(doc)
    got = [(p.path, p.message) for p in err.value.problems]
    empty = "must name at least one (got an empty list)"
    assert got == [
        ("issuers[0].senders", "is required"),
        ("issuers[0].kinds", "is required"),
        ("issuers[0].regions", "is required"),
        ("issuers[1].senders", empty),
        ("issuers[1].kinds", empty),
        ("issuers[1].regions", empty),
    ]
    assert "__init__" not in str(err.value)


def test_recognition_rule_missing_name_and_kind_are_each_named_at_their_path() -> None:
    """A [[recognition]] table without name and kind gets one problem per field."""
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml('[[recognition]]\nevents = ["Brand"]\n')
    got = [(p.path, p.message) for p in err.value.problems]
    assert got == [("recognition[0].name", "is required"), ("recognition[0].kind", "is required")]
    assert "__init__" not in str(err.value)
