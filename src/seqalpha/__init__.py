"""seqalpha: quantitative equity research with sequence deep learning."""

__version__ = "0.1.0"
