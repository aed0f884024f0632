"""Service test helpers: a fresh module of the reference service's files (examples/service)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

#: The reference service's directory, beside the tests in a checkout.
SERVICE = Path(__file__).resolve().parents[1] / "examples" / "service"


def service_module(file: str, name: str) -> Any:
    """A fresh module of ``examples/service/<file>`` named ``name``, read at this call.

    Fresh each call, so that it reads the ``GEOTARGET_*`` environment as the test set it; the
    test skips when the examples are not beside the tests (an installed-wheel run).
    """
    where = SERVICE / file
    if not where.exists():
        pytest.skip("examples/service is not beside the tests (an installed-wheel run)")
    spec = importlib.util.spec_from_file_location(name, where)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
