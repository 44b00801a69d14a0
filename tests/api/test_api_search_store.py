"""storage.search on real PostgreSQL: clear-text plates (pg_trgm), sealed plates (blind index
and its near variants), filters, keyset pages with equal timestamps, faces 1:N."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lanecap.config import LaneConfig
from storage import crossings as repo
from storage import search
from storage.crypto import SearchKey

LANE = "store-lane"
KEY = SearchKey(secrets.token_bytes(32))
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _save(
    archive, plate: str | None, at: datetime, *, sealed: bool = False, face: int | None = None
) -> uuid.UUID:  # type: ignore[no-untyped-def]
    cid = uuid.uuid4()
    emb = np.random.default_rng(face or 0).normal(size=128).astype(np.float32)
    rec = repo.CrossingRecord(
        id=cid,
        lane_id=LANE,
        started_at=at,
        ended_at=at + timedelta(seconds=1),
        plate_text=None if sealed else plate,
        plate_conf=0.9,
        plate_region=None,
        plate_flags=(),
        face_status="captured" if face is not None else "no_face_found",
        n_frames=3,
        plate_index=KEY.plate_index(plate) if (sealed and plate) else None,
        sealed=b"LCE1-not-opened-here" if sealed else None,
        faces=(repo.FaceRecord("cam", at, (0, 0, 1, 1), 0.8, emb),) if face is not None else (),
    )
    assert repo.save_crossing(archive.pool, rec)
    return cid


@pytest.fixture(scope="module")
def stored(archive) -> dict[str, uuid.UUID]:  # type: ignore[no-untyped-def]
    archive.register_lane(
        LaneConfig.model_validate(
            {"id": LANE, "cameras": [{"id": "sc", "role": "front_plate", "source": "x"}]}
        )
    )
    plates = ["KLM4455", "KLM4456", "KLN9000", "ZZZ0001"]
    out = {p: _save(archive, p, T0 + timedelta(minutes=i)) for i, p in enumerate(plates)}
    out["sealed"] = _save(archive, "SEAL123", T0 + timedelta(minutes=10), sealed=True, face=5)
    for i in range(5):  # same second: keyset ties are broken by id
        out[f"tie{i}"] = _save(archive, f"TIE000{i}", T0 + timedelta(hours=1))
    return out


def _ids(page: search.Page) -> list[uuid.UUID]:
    return [h.id for h in page.hits]


@pytest.mark.parametrize(
    ("text", "mode", "want"),
    [
        ("KLM4455", "exact", ["KLM4455"]),
        ("klm-4455", "exact", ["KLM4455"]),
        ("KLM", "prefix", ["KLM4456", "KLM4455"]),
        ("KL", "prefix", ["KLN9000", "KLM4456", "KLM4455"]),
        ("KLM44S5", "fuzzy", ["KLM4456", "KLM4455"]),
        ("ZZZ0001", "fuzzy", ["ZZZ0001"]),
    ],
)
def test_clear_plate_modes(archive, stored, text, mode, want) -> None:  # type: ignore[no-untyped-def]
    page = search.search_crossings(
        archive.pool, plate=search.PlateQuery(text, mode), filters=search.Filters(lane_id=LANE)
    )
    assert _ids(page) == [stored[p] for p in want]
    if mode == "fuzzy":
        assert all(h.score is not None and 0.4 <= h.score <= 1 for h in page.hits)


def test_time_range_and_alert_filters(archive, stored) -> None:  # type: ignore[no-untyped-def]
    f = search.Filters(
        lane_id=LANE, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)
    )
    assert _ids(search.search_crossings(archive.pool, filters=f)) == [
        stored["KLN9000"],
        stored["KLM4456"],
    ]
    alert = search.Filters(lane_id=LANE, alert=True)
    assert _ids(search.search_crossings(archive.pool, filters=alert)) == []


def test_keyset_pages_cover_ties_once(archive, stored) -> None:  # type: ignore[no-untyped-def]
    q = search.PlateQuery("TIE", "prefix")
    seen: list[uuid.UUID] = []
    cursor = None
    for _ in range(5):
        page = search.search_crossings(archive.pool, plate=q, cursor=cursor, limit=2)
        seen += _ids(page)
        cursor = page.next
        if cursor is None:
            break
    assert sorted(seen) == sorted(stored[f"tie{i}"] for i in range(5))
    assert len(set(seen)) == 5


def test_sealed_plates_by_blind_index_and_variants(archive, stored) -> None:  # type: ignore[no-untyped-def]
    def find(text: str, mode: search.PlateMode) -> list[uuid.UUID]:
        page = search.search_crossings(
            archive.pool,
            plate=search.PlateQuery(text, mode),
            filters=search.Filters(lane_id=LANE),
            store="blind",
            indexer=KEY,
        )
        return _ids(page)

    assert find("SEAL123", "exact") == [stored["sealed"]]
    assert find("5EAL123", "exact") == []
    assert find("5EAL123", "fuzzy") == [stored["sealed"]]  # one confusable
    assert find("SEAL12", "fuzzy") == [stored["sealed"]]  # one deletion
    assert find("5EA1123", "fuzzy") == [stored["sealed"]]  # two confusables
    assert find("XEAX1X3", "fuzzy") == []
    assert find("SEAL123", "exact") == find("seal 123", "exact")


def test_plate_variants() -> None:
    v = search.plate_variants("AB12")
    assert v["AB12"] == 1.0
    assert v["A812"] == pytest.approx(0.75)  # substitution
    assert v["AB1"] == pytest.approx(0.75)  # deletion
    assert v["BA12"] == pytest.approx(0.75)  # transposition
    assert v["AB132"] == pytest.approx(0.8)  # insertion
    assert v["A81Z"] == pytest.approx(0.5)  # two confusables
    assert "XY12" not in v
    assert len(search.plate_variants("ABC1234")) < 800


def test_faces_nearest_first(archive, stored) -> None:  # type: ignore[no-untyped-def]
    probe = np.random.default_rng(5).normal(size=128).astype(np.float32)
    hits = search.search_faces(archive.pool, embedding=probe, filters=search.Filters(lane_id=LANE))
    assert hits and hits[0].crossing.id == stored["sealed"] and hits[0].distance < 1e-4
