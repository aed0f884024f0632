"""``python -m geotarget``: the same as the ``geotarget`` command.

Run from a checkout with a Python that lacks geotarget's libraries (geotarget not installed
in it, only found in the current directory), it says so and what to run, exit code 3.
"""

import sys

from geotarget import _first_missing, _missing_library
from geotarget._command import main

try:
    _missing = _first_missing()
except KeyboardInterrupt:  # Ctrl-C while looking: one line, as main() answers it
    print("geotarget: interrupted", file=sys.stderr)
    raise SystemExit(130) from None
if _missing is not None:
    print(f"geotarget: {_missing_library(_missing)}", file=sys.stderr)
    raise SystemExit(3)
raise SystemExit(main())
