"""Request and response bodies of the officer API (pydantic), one module per resource."""
