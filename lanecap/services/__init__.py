"""Embedded PostgreSQL and SeaweedFS, started by lanecap itself when no external ones are set."""
