"""bench: the test-station tool that grades used EV cells in minutes.

Layers (data flows one way): drivers -> procedures -> store (HDF5) -> estimator -> report.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
