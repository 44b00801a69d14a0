"""Hostile settings files: any TOML text gives settings or a ConfigError, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanecap.config import load_settings
from lanecap.errors import ConfigError

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    ["site", "data_dir", "lanes", "database", "object_store", "retention", "recognition", "x"]
)


def _toml_value(v: object) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v) if v == v and abs(v) != float("inf") else "nan"
    if isinstance(v, str):
        return '"' + v.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    assert isinstance(v, dict)
    return "{" + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + "}"


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.toml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_settings(p, env={})
        except ConfigError as err:
            assert err.problems and all(isinstance(x, str) and x for x in err.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=5))
def test_structured_garbage_is_rejected_cleanly(data: dict[str, object]) -> None:
    _check("\n".join(f"{k} = {_toml_value(v)}" for k, v in data.items()))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_is_rejected_cleanly(text: str) -> None:
    _check(text)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_are_rejected_cleanly(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.toml"
        p.write_bytes(data)
        try:
            load_settings(p, env={})
        except ConfigError as err:
            assert err.problems
