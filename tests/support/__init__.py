"""Test helpers that are not fixtures: fakes of external services the end-to-end tests talk to."""
