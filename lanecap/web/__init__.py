"""The officer console's templates and static files (served by lanecap.api)."""
