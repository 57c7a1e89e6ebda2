"""
Cartback: self-hosted abandoned-cart recovery.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cartback")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
