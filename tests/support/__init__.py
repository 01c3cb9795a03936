"""Helpers shared by the pytest suites (fixtures themselves live in tests/conftest.py)."""
