"""The README's quickstart runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs_and_prints_what_it_claims() -> None:
    """Every ```python block in the README runs; the commented outputs match what it prints."""
    if not README.is_file():
        pytest.skip("README.md is not beside the tests (installed-wheel run from elsewhere)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has a Python quickstart"
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), {})
        printed = out.getvalue().splitlines()
        claims = [
            line.split("#", 1)[1].strip()
            for line in code.splitlines()
            if line.startswith("print(") and "#" in line
        ]
        for claim, line in zip(claims, printed, strict=False):
            if claim.startswith("["):
                assert line.startswith(claim), (claim, line)
