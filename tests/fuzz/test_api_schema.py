"""The API fuzzed from its own OpenAPI schema (schemathesis), as each role and anonymous.

Every operation gets schema-valid and schema-violating requests (path, query, JSON and
multipart bodies); each response must be no server error and conform to the schema
(status code, content type, body, headers), and invalid input must be refused.
Not fuzzed: the SSE stream (it never ends) and logout (it would end the session).
Default run: a few cases per operation and role; `-m fuzz` (make fuzz): >= 10^4 in all.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fuzz.budget import COUNTS, ci, long
from tests.fuzz.conftest import ROLES, Api

# Valid input may still be refused here: a random id is not found (404), a role lacks the
# right (403), a reason is refused, the read budget is spent (429).
EXCLUDED = [positive_data_acceptance]


def _schema_dict() -> dict[str, object]:
    """The app's schema, built at import (schemathesis 4.32's lazy `from_fixture` needs
    pytest's removed `Function._nodeid`); the routes do not depend on the settings."""
    from lanecap.api import create_app
    from lanecap.config import settings_from_dict

    return create_app(settings_from_dict({}, env={}), object()).openapi()  # type: ignore[arg-type]


schema = (
    schemathesis.openapi.from_dict(_schema_dict())
    .exclude(path="/api/lanes/{lane_id}/live")
    .exclude(path="/api/auth/logout")
)


def _call(case: schemathesis.Case, api: Api, budget: str) -> None:
    """Send the case as every role and anonymously (each one counts as a case)."""
    for role in ROLES:
        COUNTS[f"api schema ({budget})"] += 1
        case.call_and_validate(
            base_url=api.url, session=api.sessions[role], excluded_checks=EXCLUDED, timeout=30
        )


@schema.parametrize()
@ci(3)
def test_api_schema(case: schemathesis.Case, api: Api) -> None:
    _call(case, api, "ci")


@pytest.mark.fuzz
@schema.parametrize()
@long(120)
def test_api_schema_long(case: schemathesis.Case, api: Api) -> None:
    _call(case, api, "long")
