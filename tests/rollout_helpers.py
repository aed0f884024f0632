"""Rollout test helpers: a small in-memory region hierarchy and the canary reference oracle."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from geotarget.errors import UnknownCode

#: code -> (level, name, parent): a few Swedish regions with their real codes and names.
MINI_SWEDEN: dict[str, tuple[str, str, str | None]] = {
    "SE": ("country", "Sverige", None),
    "PR-STOCKHOLM": ("police_region", "Polisregion Stockholm", "SE"),
    "PR-VAST": ("police_region", "Polisregion Väst", "SE"),
    "PR-SYD": ("police_region", "Polisregion Syd", "SE"),
    "01": ("county", "Stockholms län", "PR-STOCKHOLM"),
    "09": ("county", "Gotlands län", "PR-STOCKHOLM"),
    "12": ("county", "Skåne län", "PR-SYD"),
    "13": ("county", "Hallands län", "PR-VAST"),
    "14": ("county", "Västra Götalands län", "PR-VAST"),
    "0180": ("municipality", "Stockholm", "01"),
    "0184": ("municipality", "Solna", "01"),
    "0980": ("municipality", "Gotland", "09"),
    "1280": ("municipality", "Malmö", "12"),
    "1380": ("municipality", "Halmstad", "13"),
    "1480": ("municipality", "Göteborg", "14"),
}


class DictCatalog:
    """A RegionCatalog over ``code -> (level, name, parent)``; each code has one parent."""

    def __init__(self, table: Mapping[str, tuple[str, str, str | None]] = MINI_SWEDEN) -> None:
        self.table = dict(table)

    def _row(self, code: str) -> tuple[str, str, str | None]:
        try:
            return self.table[code]
        except KeyError:
            raise UnknownCode(f"unknown region code {code!r}") from None

    def level_of(self, code: str) -> str:
        """The code's level."""
        return self._row(code)[0]

    def name_of(self, code: str) -> str:
        """The code's name."""
        return self._row(code)[1]

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Parent, grandparent, … up to the country."""
        out = []
        parent = self._row(code)[2]
        while parent is not None:
            out.append(parent)
            parent = self._row(parent)[2]
        return tuple(out)

    def expand(self, codes: Iterable[str], level: str) -> frozenset[str]:
        """Every code at ``level`` within (or equal to) one of ``codes``."""
        wanted = set(codes)
        for c in wanted:
            self._row(c)
        return frozenset(
            c
            for c, (lvl, _, _) in self.table.items()
            if lvl == level and ({c, *self.ancestors(c)} & wanted)
        )


_M64 = (1 << 64) - 1


def oracle_bucket(device_id: str | int, salt: str, kind: str) -> int:
    """The canary bucket as tests/conformance/rollout/README.md defines it, in plain Python."""

    def h(text: str) -> int:
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

    if (
        isinstance(device_id, str)
        and re.fullmatch(r"-?(0|[1-9][0-9]*)", device_id)
        and device_id != "-0"
        and -(2**63) <= int(device_id) < 2**64
    ):
        device_id = int(device_id)  # identity is the canonical text: "7" is the device 7
    if isinstance(device_id, str):
        x = h(f"{salt}/{kind}/{device_id}")
    else:
        z = ((device_id & _M64) ^ h(f"{salt}/{kind}")) + 0x9E3779B97F4A7C15 & _M64
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _M64
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _M64
        x = z ^ (z >> 31)
    return ((x >> 32) * 10000) >> 32
