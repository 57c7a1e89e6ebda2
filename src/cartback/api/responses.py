"""
JSON responses rendered with orjson (hand-built bodies such as problems and `{"success": true}`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    """
    A JSON response rendered by orjson.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
