"""The ``geotarget`` command's entry point: loads the command, answering Ctrl-C meanwhile.

``import geotarget`` loads nothing heavy (:mod:`geotarget` resolves its names on first use),
so the command's modules — numpy, shapely, pyproj and geotarget's own, a few tenths of a
second — load here, inside a handler: Ctrl-C then is one line and exit 130, never a traceback.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Load :mod:`geotarget.cli` and run its ``main()``; 130 when interrupted while loading."""
    try:
        from geotarget.cli import main as run
    except KeyboardInterrupt:  # Ctrl-C while the command's modules load: one line
        if sys.stderr is not None:
            print("geotarget: interrupted", file=sys.stderr)
        return 130
    return run()
