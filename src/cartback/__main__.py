"""
`python -m cartback` is `cartback`.
"""

from __future__ import annotations

from cartback.cli import main

main()
