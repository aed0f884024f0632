"""Runnable examples that embed geotarget (not part of the installed package)."""
