"""``python -m geotarget``: the same as the ``geotarget`` command."""

from geotarget.cli import main

raise SystemExit(main())
