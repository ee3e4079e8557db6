"""The estimator's one user-facing exception."""

from __future__ import annotations


class EstimateInputError(ValueError):
    """Input the user can fix (a file that is not a model, records without reference capacity...).

    The message is one line: what is wrong, where, and what to do about it.
    """
