"""``python -m geotarget``: the same as the ``geotarget`` command (:func:`geotarget._command.main`).

Run from a checkout with a Python that lacks geotarget's libraries (geotarget not installed
in it, only found in the current directory), it says so and what to run, exit code 3.
"""

from geotarget._command import main

raise SystemExit(main())
