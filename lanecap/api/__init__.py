"""The officer API and web console: `create_app(settings, services)`."""

from lanecap.api.app import create_app

__all__ = ["create_app"]
