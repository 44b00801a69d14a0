"""lanecap: the composition root — config, embedded services, lane pipeline, CLI and API."""
