"""seqalpha.dataset: panels -> model inputs (SampleSet, tabular rows, sequence windows, batches)."""

from seqalpha.dataset.core import SampleSet
from seqalpha.dataset.sequence import (
    InputSpec,
    columns_to_steps,
    day_batches,
    gather_inputs,
    row_batches,
    window_view,
)
from seqalpha.dataset.tabular import sample_index, scatter_scores, tabular

__all__ = [
    "InputSpec",
    "SampleSet",
    "columns_to_steps",
    "day_batches",
    "gather_inputs",
    "row_batches",
    "sample_index",
    "scatter_scores",
    "tabular",
    "window_view",
]
