"""The ``geotarget`` command's entry point: loads the command, answering Ctrl-C meanwhile.

``import geotarget`` loads nothing heavy (:mod:`geotarget` resolves its names on first use),
so the command's modules — numpy, shapely, pyproj and geotarget's own, a few tenths of a
second — load here, inside a handler: Ctrl-C then is one line and exit 130, never a traceback.
A module that fails to load (a broken installation) is one line and exit 3, too.
"""

from __future__ import annotations

import contextlib
import sys

#: Exit code of an internal error, as :func:`geotarget.cli.main` documents it.
_INTERNAL = 3


def main() -> int:
    """Load :mod:`geotarget.cli` and run its ``main()``; 130 when interrupted while loading.

    A library this Python does not have (a fresh checkout's Python, geotarget found only in the
    current directory) is one line naming it, the Python and what to run, exit code 3. A
    library that cannot be loaded (a shared library missing, an extension module built for
    another Python or numpy) is one line on standard error and exit code 3 too: it was Python's
    traceback and exit code 1, which ``geotarget locate`` documents as "the point lies in no
    region", so a script asking whether a point lies in Sweden was told "no".
    """
    try:
        from geotarget import _first_missing, _missing_library

        missing = _first_missing()  # (found, not imported: a fresh checkout's Python says so)
        if missing is not None:
            _say(f"geotarget: {_missing_library(missing)}")
            return _INTERNAL
        from geotarget.cli import main as run
    except KeyboardInterrupt:  # Ctrl-C while the command's modules load: one line
        _say("geotarget: interrupted")
        return 130
    except Exception as err:  # (ImportError, OSError of a shared library, ...)
        text = " ".join(str(err).split())  # one line (a loader's message has several)
        _say(
            f"geotarget: cannot load the command ({type(err).__name__}: {text}); the "
            "installation is broken (a library missing, or built for another Python): "
            "reinstall geotarget and its dependencies"
        )
        return _INTERNAL
    return run()


def _say(line: str) -> None:
    """``line`` on standard error, if there is one to write to (never raises)."""
    if sys.stderr is not None:  # (closed: None, and print() would write to stdout)
        with contextlib.suppress(OSError, ValueError):  # (a full or closed stderr)
            print(line, file=sys.stderr)
