"""Login and the caller."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=1024)
    totp: str = Field(pattern=r"^[0-9]{6}$", description="Current code of the authenticator app.")


class Me(BaseModel):
    name: str
    role: str
    kind: str
    permissions: list[str]


class LoginResponse(BaseModel):
    token: str = Field(description="Session token (also set as an HttpOnly cookie).")
    csrf: str = Field(description="Send as X-CSRF-Token on cookie-authenticated writes.")
    expires_in: int
    me: Me
