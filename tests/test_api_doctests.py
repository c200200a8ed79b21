"""The examples in `seqalpha.api`'s docstrings run (on tiny synthetic markets) and pass."""

from __future__ import annotations

import doctest
import tempfile

import seqalpha.api


def test_the_api_docstring_examples_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() lands here
    result = doctest.testmod(seqalpha.api, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted >= 30
    assert len(list(tmp_path.iterdir())) >= 5  # each example made its own market there
