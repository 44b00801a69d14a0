"""Watch-list matching on real PostgreSQL: plates by keyed hashes, faces by rotated embeddings."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lanecap.matcher import Matcher, one_edit_variants, plate_index_rows
from recognition.faces.match import OperatingPoint
from recognition.plates.hotlist import fold
from storage import crossings as repo
from storage import watchlist
from storage.crypto import SearchKey
from tests.conftest import cli_user, ingest_all

SEARCH = SearchKey(secrets.token_bytes(32))


def _crossing(
    archive, plate: str | None, face: np.ndarray | None = None, quality: float = 0.9
) -> uuid.UUID:  # type: ignore[no-untyped-def]
    from lanecap.config import LaneConfig

    archive.register_lane(
        LaneConfig.model_validate(
            {"id": "match-lane", "cameras": [{"id": "mc", "role": "front_plate", "source": "x"}]}
        )
    )
    now = datetime.now(UTC)
    faces = ()
    if face is not None:
        faces = (repo.FaceRecord("d", now, (0, 0, 1, 1), quality, SEARCH.protect_embedding(face)),)
    rec = repo.CrossingRecord(
        id=uuid.uuid4(),
        lane_id="match-lane",
        started_at=now,
        ended_at=now,
        plate_text=None,
        plate_conf=0.9,
        plate_region=None,
        plate_flags=(),
        face_status="captured",
        n_frames=3,
        faces=faces,
        plate_index=SEARCH.plate_index(plate) if plate else None,
        plate_fold_index=SEARCH.plate_index(fold(plate)) if plate else None,
    )
    assert repo.save_crossing(archive.pool, rec)
    return rec.id


def _matches(archive, cid: uuid.UUID) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    with archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, decision, detail FROM matches WHERE crossing_id = %s ORDER BY kind",
            (cid,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def test_one_edit_variants() -> None:
    v = one_edit_variants("AB1")
    assert "A1" in v and "AB12" in v and "A81" in v and "AB1" not in v
    assert all(abs(len(x) - 3) <= 1 for x in v)


def test_plate_hot_list_exact_confusable_fuzzy_and_expiry(archive) -> None:  # type: ignore[no-untyped-def]
    entry = watchlist.add_plate(
        archive.pool,
        search=SEARCH,
        label="KBC123",
        plate_text="KBC123",
        reason="stolen vehicle",
        created_by="test",
        index=plate_index_rows(SEARCH, "KBC123"),
    )
    old = watchlist.add_plate(
        archive.pool,
        search=SEARCH,
        label="OLD999",
        plate_text="OLD999",
        reason="expired case",
        created_by="test",
        index=plate_index_rows(SEARCH, "OLD999"),
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    cases = {
        "KBC123": "exact",
        "K8C123": "confusable",  # B read as 8
        "KBC12": "fuzzy",  # a character missed
        "KBX123": "fuzzy",  # one substitution
    }
    ids = {plate: _crossing(archive, plate) for plate in [*cases, "ZZZ999", "OLD999"]}
    ids["none"] = _crossing(archive, None)
    Matcher(archive.pool).run_once(limit=1000)
    assert all(_matches(archive, i) == [] for i in ids.values())  # not ingested yet: waits
    assert ingest_all(archive) >= len(ids)
    Matcher(archive.pool).run_once(limit=1000)
    for plate, kind in cases.items():
        assert _matches(archive, ids[plate]) == [("plate", "match", kind)], plate
    assert _matches(archive, ids["ZZZ999"]) == []
    assert _matches(archive, ids["OLD999"]) == []  # expired entries never match
    with archive.pool.connection() as conn:
        alerts = dict(
            conn.execute(
                "SELECT id, alert FROM crossings WHERE id = ANY(%s)", (list(ids.values()),)
            ).fetchall()
        )
        watch = conn.execute(
            "SELECT DISTINCT watch_id FROM matches WHERE crossing_id = %s", (ids["KBC12"],)
        ).fetchone()
    assert alerts[ids["KBC123"]] and not alerts[ids["ZZZ999"]]
    assert watch == (entry,) and old != entry
    assert Matcher(archive.pool).run_once(limit=1000) == []  # each crossing is matched once


def test_face_watch_list_match_no_match_unknown(archive) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    person = rng.normal(size=128).astype(np.float32)
    person *= 0.6 / np.linalg.norm(person)
    watchlist.add_face(
        archive.pool,
        search=SEARCH,
        label="person",
        embedding=SEARCH.protect_embedding(person),
        reason="case 7",
        created_by="test",
    )
    point = OperatingPoint.shipped()
    same = person + (rng.normal(size=128) * 0.005).astype(np.float32)
    other = rng.normal(size=128).astype(np.float32)
    other *= 0.6 / np.linalg.norm(other)
    a = _crossing(archive, None, face=same)
    b = _crossing(archive, None, face=other)
    c = _crossing(archive, None, face=same, quality=0.2)
    ingest_all(archive)
    Matcher(archive.pool, operating_point=point).run_once(limit=1000)
    assert [m[:2] for m in _matches(archive, a)] == [("face", "match")]
    assert [m[:2] for m in _matches(archive, b)] == [("face", "no_match")]
    assert [m[:2] for m in _matches(archive, c)] == [("face", "unknown")]


@pytest.mark.parametrize("bad", ["", "-", "A"])
def test_hot_list_rejects_plates_too_short(bad: str) -> None:
    with pytest.raises(ValueError):
        plate_index_rows(SEARCH, bad)


def _cfg(tmp_path, settings):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'data_dir = "{settings.data_dir}"\n[object_store]\nbucket_prefix = "{settings.object_store.bucket_prefix}"\n'
    )
    return cfg


def test_cli_enrol_refuses_photos_without_exactly_one_face(tmp_path, settings, archive) -> None:  # type: ignore[no-untyped-def]
    import cv2
    from click.testing import CliRunner
    from skimage import data

    from lanecap.cli import main

    cfg = _cfg(tmp_path, settings)
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))  # type: ignore[no-untyped-call]
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    runner = CliRunner()
    anonymous = runner.invoke(
        main, ["-c", str(cfg), "watchlist", "enroll", "--name", "A", "--reason", "test", str(face)]
    )
    assert anonymous.exit_code == 2 and "named lanecap user" in anonymous.output
    who, password = cli_user(archive)
    ok = runner.invoke(
        main,
        [
            "-c",
            str(cfg),
            "watchlist",
            "enroll",
            *who,
            "--name",
            "Astronaut",
            "--reason",
            "test case",
            str(face),
        ],
        input=password,
    )
    assert ok.exit_code == 0, ok.output
    assert "enrolled as watch-list entry" in ok.output
    who, password = cli_user(archive)
    bad = runner.invoke(
        main,
        [
            "-c",
            str(cfg),
            "watchlist",
            "enroll",
            *who,
            "--name",
            "N",
            "--reason",
            "test",
            str(blank),
        ],
        input=password,
    )
    assert bad.exit_code != 0
    assert "not enrolled: no_face" in bad.output


def test_cli_hotlist_import_reports_rejected_rows(tmp_path, settings, archive) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from lanecap.cli import main

    cfg = _cfg(tmp_path, settings)
    csv_file = tmp_path / "hot.csv"
    csv_file.write_text("plate,reason\nQRS4567,stolen\n!!,bad plate\nTUV8910,wanted\n")
    who, password = cli_user(archive)
    r = CliRunner().invoke(
        main,
        ["-c", str(cfg), "hotlist", "import", *who, str(csv_file), "--reason", "daily list"],
        input=password,
    )
    assert r.exit_code == 0, r.output
    assert "imported 2 plate(s), rejected 1 row(s)" in r.output
    assert "rejected line 3" in r.output


def test_cli_match_ingests_sealed_crossings_then_alerts(tmp_path, settings, archive) -> None:  # type: ignore[no-untyped-def]
    """`lanecap match --once` on what a lane stored sealed (no index): ingest, then match."""
    from click.testing import CliRunner

    from lanecap.api.testing import crossing
    from lanecap.cli import main
    from lanecap.config import LaneConfig
    from lanecap.keys import keys_dir, load_search_key

    search = load_search_key(keys_dir(settings))
    archive.register_lane(
        LaneConfig.model_validate(
            {"id": "cli-match", "cameras": [{"id": "cm", "role": "front_plate", "source": "x"}]}
        )
    )
    watchlist.add_plate(
        archive.pool,
        search=search,
        label="case 77",
        plate_text="CLM7070",
        reason="stolen vehicle",
        created_by="test",
        index=plate_index_rows(search, "CLM7070"),
    )
    hit, miss = crossing("cli-match", "CLM7070"), crossing("cli-match", "CLM0001")
    assert archive.store(hit) and archive.store(miss)
    with archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM crossings WHERE id = ANY(%s) AND plate_index IS NULL",
            ([hit.id, miss.id],),
        ).fetchone()
    assert row == (2,)  # stored as a lane stores: sealed, no index
    r = CliRunner().invoke(main, ["-c", str(_cfg(tmp_path, settings)), "match", "--once"])
    assert r.exit_code == 0, r.output
    assert [m[:2] for m in _matches(archive, hit.id)] == [("plate", "match")]
    assert _matches(archive, miss.id) == []
