"""
Files Cartback serves to browsers as they are: the storefront snippet (`static/cartback.js`),
hand-written, with no build step, shipped inside the package.
"""

from __future__ import annotations

from importlib import resources


def static_file(name: str) -> bytes:
    """
    The bytes of a file under `static/`.

    Raises:
        FileNotFoundError: there is no such file.
    """
    if "/" in name or "\\" in name or name.startswith("."):
        raise FileNotFoundError(name)
    return resources.files(__name__).joinpath("static", name).read_bytes()
