"""Strategies and claim checks: where `theory` predictions meet `empirics` measurements."""
