"""Marks docs/ as a package so pytest imports docs/conftest.py as docs.conftest, not a
second top-level "conftest" beside tests/conftest.py (the site build excludes this file)."""
