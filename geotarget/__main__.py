"""``python -m geotarget``: the same as the ``geotarget`` command."""

from geotarget._command import main

raise SystemExit(main())
