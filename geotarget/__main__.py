"""``python -m geotarget``: the same as the ``geotarget`` command."""

import sys

try:
    from geotarget.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command's modules load: one line, not a traceback
    if sys.stderr is not None:
        print("geotarget: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
