"""The OpenAPI schema, for signed-in callers only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lanecap.api.deps import AnyCaller
from lanecap.api.schemas.common import ERROR_RESPONSES

router = APIRouter(prefix="/api", tags=["docs"], responses=ERROR_RESPONSES)


@router.get("/openapi.json", summary="OpenAPI 3 schema of this API")
def openapi(request: Request, who: AnyCaller) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema
