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


def success_response(description: str) -> dict[int | str, dict[str, Any]]:
    """
    The OpenAPI entry for a 200 whose body is `{"success": true}`.
    """
    schema = {
        "type": "object",
        "required": ["success"],
        "properties": {"success": {"type": "boolean", "enum": [True]}},
    }
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}
