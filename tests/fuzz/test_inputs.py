"""Configs, hot-list CSVs and image uploads fuzzed by hypothesis: a clear error, never a crash.

The default run keeps the few hundred cases of tests/lanecap; these are the same properties
with the long budgets (`-m fuzz`, `make fuzz`): >= 10^4 cases in all.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanecap.api.errors import ApiError
from lanecap.api.images import check_upload
from recognition.plates.hotlist import HotlistImportError, import_csv
from tests.fuzz.budget import COUNTS, long
from tests.lanecap.test_config_fuzz import _check, _toml_value, keys, values
from tests.lanecap.test_hostile_csv import _csv, rows

pytestmark = pytest.mark.fuzz


@long(4000)
@given(st.dictionaries(keys, values, max_size=5))
def test_structured_config_garbage(data: dict[str, object]) -> None:
    COUNTS["config (structured)"] += 1
    _check("\n".join(f"{k} = {_toml_value(v)}" for k, v in data.items()))


@long(2000)
@given(st.text(max_size=300))
def test_config_text(text: str) -> None:
    COUNTS["config (text)"] += 1
    _check(text)


@long(3000)
@given(
    st.sampled_from(
        [["plate"], ["plate", "reason"], ["plate", "reason", "region", "expires", "note"]]
    ),
    rows,
)
def test_hotlist_csv_rows(header: list[str], body: list[list[str]]) -> None:
    COUNTS["hot-list csv"] += 1
    text = _csv(header, body)
    try:
        report = import_csv(text)
    except HotlistImportError as err:
        assert str(err)
        return
    assert len(report.accepted) + len(report.rejected) <= len(body)
    assert all(r.line >= 2 and r.reason for r in report.rejected)


def _png(width: int, height: int, tail: bytes) -> bytes:
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + tail


uploads = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda b: b"\xff\xd8" + b, st.binary(max_size=200)),
    st.builds(_png, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=40)),
)


@long(3000)
@given(uploads)
def test_image_upload_headers(data: bytes) -> None:
    COUNTS["image upload"] += 1
    try:
        size = check_upload(data, limit=40_000_000)
    except ApiError as err:
        assert err.status in (400, 413) and str(err)
        return
    assert size is None or (size[0] > 0 and size[1] > 0 and size[0] * size[1] <= 40_000_000)
