"""Shared route dependencies: the services, and principals by permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lanecap.api.auth import Caller, caller, require
from lanecap.api.services import ApiServices
from lanecap.security.roles import Permission, Principal

P = Permission


def services(request: Request) -> ApiServices:
    svc: ApiServices = request.app.state.services
    return svc


Services = Annotated[ApiServices, Depends(services)]
AnyCaller = Annotated[Caller, Depends(caller)]
Viewer = Annotated[Principal, Depends(require(P.CROSSING_VIEW))]
ImageViewer = Annotated[Principal, Depends(require(P.CROSSING_VIEW, P.IMAGE_VIEW))]
Searcher = Annotated[Principal, Depends(require(P.CROSSING_SEARCH))]
FaceSearcher = Annotated[Principal, Depends(require(P.CROSSING_SEARCH, P.IMAGE_VIEW))]
Exporter = Annotated[Principal, Depends(require(P.EXPORT))]
ListManager = Annotated[Principal, Depends(require(P.WATCHLIST_ENROL))]
HealthReader = Annotated[Principal, Depends(require(P.HEALTH_READ))]
HealthWriter = Annotated[Principal, Depends(require(P.HEALTH_WRITE))]
Reviewer = Annotated[Principal, Depends(require(P.SEARCH_VOLUME_REVIEW))]
