"""Hostile and careless input: one test per case of issue 15, asserting the one-line error,
the exit code, and that nothing outside the output changed."""
