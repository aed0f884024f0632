"""Private: the matcher's internals. Their only public face is :mod:`geotarget.matcher`.

* :mod:`.leaves`: devices packed in Morton order into leaves of 32 under a packed R-tree, with
  each leaf's bounding box and bounding sphere (ECEF).
* :mod:`.plan`: area → devices: candidate leaves, whole-leaf accept/reject by exact bounds
  (:mod:`.boundary` for polygons), the exact per-point test only in straddling leaves.
* :mod:`.polygons`: what a polygon's rings give the matcher, computed once per polygon; among
  it, for a polygon whose edges crowd its parallels and meridians, the :mod:`.crossing` grid
  that tests points against the edges near them instead of GEOS's ray.
* :mod:`.classify`: the tri-state classification of fixes near an area; :mod:`.frames` bounds
  its polygon distances in the tangent plane before the polygon's own (PROJ) frame, from the
  densified boundary near the devices only; :mod:`.segments` buckets segments for both.
* :mod:`.raster`, :mod:`.buckets`: points → areas (:class:`geotarget.AreaIndex`).
* :mod:`.within`: whether parts of an area lie within other parts, proven (for the intake's
  check of an info block that names no kind).

The exact circle test and the ECEF conversion live once, in :mod:`geotarget._geodesy`.
"""
