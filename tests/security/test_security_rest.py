"""Finding 7, plaintext at rest: hot-list and watch-list entries sealed, calibration previews
sealed, no plate typed into a reason, on every path (API, evidence reader, CLI), against the
real PostgreSQL and SeaweedFS: every text and bytea column of every table is scanned, and the
embedded server's data files (heap, indexes and WAL) too."""

from __future__ import annotations

import dataclasses
import io
import secrets
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import psycopg
import pytest
from click.testing import CliRunner, Result
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lanecap.api import create_app
from lanecap.api import watchlist as wl
from lanecap.api.services import ApiServices, build_services
from lanecap.api.testing import (
    CodeFaceEncoder,
    ServerThread,
    face_image,
    login,
    make_account,
)
from lanecap.cli import main
from lanecap.ingest import officer_ingest
from lanecap.keys import load_search_key
from lanecap.matcher import Matcher, plate_index_rows
from lanecap.security.reasons import MESSAGE, PlateInReason, check_reason, plate_like
from lanecap.security.tokens import create_token
from storage import health, watchlist
from storage.crypto import DecryptionError
from storage.db import migrate, migrations, open_pool
from tests.conftest import cli_user

from .conftest import SUPERVISOR, SecureEnv, make_crossing

LANE = "rest-lane"
JPEG_SOI = b"\xff\xd8\xff"


def _letters(n: int) -> str:
    return "".join(secrets.choice("bcdfghjkmnpqrstvwxz") for _ in range(n))


# The reason rule --------------------------------------------------------------------------

PASSES = [
    "CASE-2026-0042",
    "case 2026-0042",
    "INC 12345",
    "INC12345",
    "inc-12345",
    "case #4411",
    "REF 2026/17",
    "warrant 5",
    "court order 17",
    "case K-7 court file",
    "booth api-lane-1",
    "booth e2e-lane",
    "booth demo-1",
    "plate index",
    "secondary inspection",
    "hold for 90 days pending court",
    "seen at 10am on 12 may",
    "re crossing 3f2a9c1e-1234-4abc-9def-0123456789ab",
    "footage of 2026-05-12T10:30:00Z",
    "the 3rd visit, 121st street, 100km south",
]
REFUSED = [
    "ABC1234",
    "stolen: abc 1234",
    "AB-123-CD",
    "AB12 CDE",
    "M-1234-AB",
    "1234 BCD",
    "123 ABC 45",
    "B-AB 1234",
    "A 123 BCD",
    "ab·123·cd",
    "(KBC123)",
    "INC 4411 re AB12CDE",
    "\uff21\uff22\uff23\uff11\uff12\uff13\uff14",  # full-width ABC1234
    "ABC\u200b1234",  # a zero-width space inside
    "srch101",
]


@pytest.mark.parametrize("reason", PASSES)
def test_case_numbers_and_ordinary_reasons_pass(reason: str) -> None:
    assert not plate_like(reason)
    assert check_reason(reason) == reason


@pytest.mark.parametrize("reason", REFUSED)
def test_reasons_with_plates_are_refused(reason: str) -> None:
    assert plate_like(reason)
    with pytest.raises(PlateInReason, match="refer to the case number instead") as err:
        check_reason(reason)
    assert isinstance(err.value, ValueError)


# Scanning what is at rest -----------------------------------------------------------------


def _scan_database(url: str, *, texts: list[str], blobs: list[bytes]) -> list[str]:
    """`table.column` of every value holding one of the texts (any case, any column cast to
    text) or blobs (bytea), and bytea values that begin like a JPEG."""
    found: list[str] = []
    with psycopg.connect(url) as conn:
        cols = conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        ).fetchall()
        assert len(cols) > 50
        for table, column, dtype in cols:
            ident = sql.Identifier(column)
            q = sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table))
            if dtype == "bytea":
                checks = [
                    (sql.SQL("position(%s::bytea IN {}) > 0").format(ident), b) for b in blobs
                ]
                checks += [
                    (
                        sql.SQL("substring({} FROM 1 FOR 3) = %s::bytea").format(ident),
                        JPEG_SOI,
                    )
                ]
                checks += [
                    (sql.SQL("position(%s::bytea IN {}) > 0").format(ident), t.encode())
                    for t in texts
                ]
            else:
                checks = [
                    (sql.SQL("strpos(upper({}::text), upper(%s)) > 0").format(ident), t)
                    for t in texts
                ]
            for cond, needle in checks:
                row = conn.execute(q + cond, (needle,)).fetchone()
                if row and row[0]:
                    found.append(f"{table}.{column}")
    return found


def _pgdata(env: SecureEnv) -> Path | None:
    d = env.settings.data_dir / "postgres"
    return d if env.endpoints.embedded and (d / "PG_VERSION").exists() else None


def _scan_files(root: Path, needles: list[bytes]) -> set[int]:
    """Which needles any file under root (heap, indexes, WAL, ...) holds."""
    found: set[int] = set()
    overlap = max(len(n) for n in needles)
    for path in root.rglob("*"):
        try:
            if not path.is_file():
                continue
            with path.open("rb") as f:
                tail = b""
                while chunk := f.read(1 << 22):
                    window = tail + chunk
                    found |= {i for i, n in enumerate(needles) if n in window}
                    tail = window[-overlap:]
        except OSError:  # unreadable (another user's file, or gone: a recycled WAL segment)
            continue
    return found


def _checkpoint(admin_url: str) -> None:
    """Flush dirty pages to the table files (superuser or pg_checkpoint)."""
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("cannot CHECKPOINT on this server: its files cannot be checked")


# The officer service over the security environment ---------------------------------------


@pytest.fixture(scope="module")
def api(secure_env: SecureEnv) -> Iterator[tuple[ApiServices, str]]:
    secure_env.lane(LANE)
    svc = build_services(secure_env.settings, secure_env.endpoints, face_encoder=CodeFaceEncoder())
    with ServerThread(create_app(secure_env.settings, svc)) as srv:
        yield svc, srv.url
    svc.close()


def _client(svc: ApiServices, url: str, env: SecureEnv, role: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=15)
    login(c, make_account(env.archive, svc.trail, role=role, prefix="rest"))  # type: ignore[arg-type]
    return c


@pytest.fixture(scope="module")
def supervisor(api, secure_env) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    c = _client(*api, secure_env, "supervisor")
    yield c
    c.close()


@pytest.fixture(scope="module")
def contractor(api, secure_env) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    c = _client(*api, secure_env, "contractor")
    yield c
    c.close()


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "reason_required" and err["message"] == MESSAGE


def _audit_reasons(pool: Any) -> list[str]:
    with pool.connection() as conn:
        return [
            str(r[0])
            for r in conn.execute("SELECT reason FROM audit_events ORDER BY seq").fetchall()
        ]


def test_nothing_listed_or_previewed_is_at_rest_in_clear(
    api, supervisor, contractor, secure_env
) -> None:  # type: ignore[no-untyped-def]
    svc, url = api
    plate = "QX" + "".join(secrets.choice("0123456789") for _ in range(5))
    label = "Hotlabel " + _letters(12)
    name = "Person " + _letters(12)
    r = supervisor.post(
        "/api/lists/plates",
        json={
            "plate": plate,
            "label": label,
            "reason": "CASE-2026-0042",
            "expires": None,
        },
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert (entry["plate_text"], entry["label"], entry["reason"]) == (
        plate,
        label,
        "CASE-2026-0042",
    )
    _, png = cv2.imencode(".png", face_image(71))
    r = supervisor.post(
        "/api/lists/faces",
        files={"photo": ("f.png", png.tobytes(), "image/png")},
        data={"label": name, "reason": "INC 12345"},
    )
    assert r.status_code == 201, r.text
    face_entry = r.json()["id"]
    listed = {e["id"]: e for e in supervisor.get("/api/lists").json()}
    assert listed[entry["id"]]["plate_text"] == plate and listed[face_entry]["label"] == name

    # a lane node uploads a calibration frame; it is blurred, sealed and stored
    token = create_token(svc.pool, svc.trail, by="system:test", name="rest node", lane_id=LANE)
    node = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token.token}"})
    cam = f"{LANE}-f"
    frame = np.random.default_rng(7).integers(0, 255, size=(96, 128, 3), dtype=np.uint8)
    cv2.putText(frame, "CAL1", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    _, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert len(jpg) < 60_000  # under the API's body limit for any route
    r = node.put(
        f"/api/health/lanes/{LANE}/cameras/{cam}/preview",
        files={"frame": ("f.jpg", jpg.tobytes(), "image/jpeg")},
        data={"boxes": "[[5, 35, 90, 70]]"},
    )
    assert r.status_code == 200, r.text
    path = f"/api/health/lanes/{LANE}/cameras/{cam}/preview.jpg"
    assert node.get(path).status_code == 403  # a lane node reads no preview back
    node.close()
    shown = contractor.get(path)
    assert shown.status_code == 200 and shown.content.startswith(JPEG_SOI)
    served = shown.content
    with svc.pool.connection() as conn:
        row = conn.execute(
            "SELECT sealed FROM calibration_previews WHERE lane_id = %s AND camera_id = %s",
            (LANE, cam),
        ).fetchone()
    assert row is not None and not bytes(row[0]).startswith(JPEG_SOI)

    # nothing in clear in any column of any table ...
    # distinctive pieces of the JPEG (of a noisy frame: no two JPEGs share them)
    pieces = [
        served[i : i + 48] for i in range(len(served) // 4, len(served) - 48, len(served) // 4)
    ]
    assert all(len(set(p)) > 24 for p in pieces)
    texts = [plate, label, name]
    assert (
        _scan_database(secure_env.endpoints.admin_url, texts=texts, blobs=[b"JFIF", *pieces]) == []
    )
    # ... nor in the server's files: tables, indexes and the write-ahead log
    root = _pgdata(secure_env)
    if root is None:
        pytest.skip("not the embedded server: its files cannot be read")
    control = "Control " + _letters(16)  # a value stored in clear: the scan must find it
    with psycopg.connect(secure_env.endpoints.admin_url) as conn:
        conn.execute("CREATE TABLE rest_control (t text)")
        conn.execute("INSERT INTO rest_control VALUES (%s)", (control,))
    _checkpoint(secure_env.endpoints.admin_url)
    try:
        needles = [control.encode()] + [t.encode() for t in texts] + pieces
        assert _scan_files(root, needles) == {0}
    finally:
        with psycopg.connect(secure_env.endpoints.admin_url) as conn:
            conn.execute("DROP TABLE rest_control")


def test_a_hot_listed_plate_still_alerts(api, secure_env) -> None:  # type: ignore[no-untyped-def]
    svc, _ = api
    search = svc.search_key
    assert search is not None
    plate = "HL" + "".join(secrets.choice("0123456789") for _ in range(5))
    eid = wl.add_plate(
        svc.pool,
        search,
        plate=plate,
        label="",
        reason="case 77",
        by="t",
        expires_at=None,
    )
    assert watchlist.labels(svc.pool, [eid], search=search) == {eid: plate}
    assert watchlist.labels(svc.pool, [eid]) == {eid: f"list entry {eid}"}  # no key: a reference
    lane = secure_env.lane("rest-match")
    hit = make_crossing(lane, plate=plate[:-1] + ("1" if plate[-1] != "1" else "2"), seed=81)
    miss = make_crossing(lane, plate="ZZ99999", seed=82)
    exact = make_crossing(lane, plate=plate, seed=83)
    for c in (hit, miss, exact):
        assert secure_env.archive.store(c)
    officer_ingest(secure_env.settings, svc.pool, secure_env.archive.objects).run_all()
    Matcher(svc.pool).run_once(limit=1000)
    with svc.pool.connection() as conn:
        rows = dict(
            conn.execute(
                "SELECT c.id, array_agg(m.detail) FILTER (WHERE m.watch_id = %s)"
                " FROM crossings c LEFT JOIN matches m ON m.crossing_id = c.id"
                " WHERE c.id = ANY(%s) AND c.alert GROUP BY c.id",
                (eid, [hit.id, miss.id, exact.id]),
            ).fetchall()
        )
    assert rows == {hit.id: ["fuzzy"], exact.id: ["exact"]}


def test_a_preview_moved_to_another_camera_does_not_open(api) -> None:  # type: ignore[no-untyped-def]
    svc, _ = api
    search = svc.search_key
    assert search is not None
    p = health.Preview(LANE, "moved-a", None, JPEG_SOI + b"\xe0rest", 2, 2, 0)
    health.save_preview(svc.pool, p, search=search)
    got = health.preview(svc.pool, lane_id=LANE, camera_id="moved-a", search=search)
    assert got is not None and got.jpeg == p.jpeg
    with svc.pool.connection() as conn:
        conn.execute(
            "INSERT INTO calibration_previews (lane_id, camera_id, sealed, width, height, blurred)"
            " SELECT lane_id, 'moved-b', sealed, width, height, blurred FROM calibration_previews"
            " WHERE lane_id = %s AND camera_id = 'moved-a'",
            (LANE,),
        )
    with pytest.raises(DecryptionError):
        health.preview(svc.pool, lane_id=LANE, camera_id="moved-b", search=search)


# Reasons on every path --------------------------------------------------------------------


def test_api_refuses_plates_in_reasons_and_accepts_case_numbers(
    api, supervisor, secure_env
) -> None:  # type: ignore[no-untyped-def]
    svc, _ = api
    c = make_crossing(secure_env.lane(LANE), plate="RSN4242", seed=91)
    assert secure_env.archive.store(c)
    before = len(_audit_reasons(svc.pool))
    # search, view, crop, export
    _refused(supervisor.get("/api/search/crossings", params={"reason": "looking for ABC 1234"}))
    _refused(supervisor.get(f"/api/crossings/{c.id}", params={"reason": "RSN4242 check"}))
    _refused(
        supervisor.get(f"/api/crossings/{c.id}/crops/plate_crop", params={"reason": "AB-123-CD"})
    )
    _refused(supervisor.post(f"/api/crossings/{c.id}/export", json={"reason": "for AB12 CDE"}))
    # lists: nothing is stored or changed
    with svc.pool.connection() as conn:
        n_entries = conn.execute("SELECT count(*) FROM watchlist").fetchone()
    _refused(
        supervisor.post(
            "/api/lists/plates", json={"plate": "LST1001", "reason": "seen as LST 1001"}
        )
    )
    ok = supervisor.post("/api/lists/plates", json={"plate": "LST1002", "reason": "INC 4411"})
    assert ok.status_code == 201, ok.text
    _refused(
        supervisor.post(f"/api/lists/{ok.json()['id']}/expire", json={"reason": "LST1002 found"})
    )
    assert supervisor.get("/api/lists").json()[0]["active"]
    _refused(
        supervisor.post(
            "/api/lists/plates/import",
            files={"file": ("l.csv", "plate\nLST1003\n", "text/csv")},
            data={"reason": "list of ABC1234"},
        )
    )
    csv_text = "plate,reason\nLST1004,stolen\nLST1005,stolen LST1005\nLST1006,CASE-2026-0042\n"
    r = supervisor.post(
        "/api/lists/plates/import",
        files={"file": ("l.csv", csv_text, "text/csv")},
        data={"reason": "weekly list"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "imported": 2,
        "rejected": [{"line": 3, "reason": f"reason: {MESSAGE}"}],
    }
    with svc.pool.connection() as conn:
        n_after = conn.execute("SELECT count(*) FROM watchlist").fetchone()
    assert n_entries is not None and n_after is not None and n_after[0] == n_entries[0] + 3
    # case numbers pass on the same routes
    r = supervisor.get("/api/search/crossings", params={"reason": "CASE-2026-0042"})
    assert r.status_code == 200, r.text
    r = supervisor.post(f"/api/crossings/{c.id}/export", json={"reason": "INC 12345"})
    assert r.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(r.content)).read("crossing.json")
    reasons = _audit_reasons(svc.pool)[before:]
    assert "CASE-2026-0042" in reasons and "INC 12345" in reasons
    assert not [x for x in reasons if plate_like(x)]


def test_evidence_reader_and_trail_refuse_plates_in_reasons(secure_env) -> None:  # type: ignore[no-untyped-def]
    reader = secure_env.reader()
    c = make_crossing(secure_env.lane(LANE), plate="EVR5151", seed=92)
    assert secure_env.archive.store(c)
    pool = secure_env.archive.pool
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events WHERE actor = %s", (SUPERVISOR.actor,)
        )
        before = int(row.fetchone()[0])  # type: ignore[index]
    for call in (
        lambda: reader.view(SUPERVISOR, c.id, reason="EVR 5151"),
        lambda: reader.export(SUPERVISOR, c.id, reason="case of AB-123-CD"),
        lambda: reader.image(SUPERVISOR, c.id, "plate_crop", reason="ABC1234"),
        lambda: reader.trail.record(SUPERVISOR, "hold.add", target="case:X", reason="AB12CDE"),
    ):
        with pytest.raises(PlateInReason):
            call()
    with pool.connection() as conn:  # the refused calls wrote nothing (others may: the indexer)
        written = conn.execute(
            "SELECT action, reason FROM audit_events WHERE actor = %s ORDER BY seq OFFSET %s",
            (SUPERVISOR.actor, before),
        ).fetchall()
    assert not [a for a, _ in written if a in {"crossing.view", "export", "image.view", "hold.add"}]
    assert not [r for _, r in written if plate_like(r)]
    assert reader.export(SUPERVISOR, c.id, reason="CASE-2026-0042").detail.plate_text == "EVR5151"


@pytest.fixture(scope="module")
def cli(secure_env: SecureEnv, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    def invoke(*args: str, env: SecureEnv = secure_env, input: str | None = None) -> Result:
        cfg = tmp_path_factory.mktemp("restcli") / "lane.toml"
        cfg.write_text(
            f'data_dir = "{env.settings.data_dir}"\n'
            f'[object_store]\nbucket_prefix = "{env.settings.object_store.bucket_prefix}"\n'
            f'[keys]\ndir = "{env.keys_dir}"\nauto_create = false\n'
        )
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LANECAP_DATABASE_URL", env.endpoints.database_url)
            mp.setenv("LANECAP_DATABASE_ADMIN_URL", env.endpoints.admin_url)
            return CliRunner().invoke(main, ["-c", str(cfg), *args], input=input)

    return invoke


def test_cli_refuses_plates_in_reasons(cli, secure_env) -> None:  # type: ignore[no-untyped-def]
    pool = secure_env.archive.pool
    before = len(_audit_reasons(pool))
    r = cli("hotlist", "add", "CLI7001", "--reason", "stolen CLI 7001")
    assert r.exit_code == 2 and MESSAGE in r.output
    r = cli("hotlist", "import", __file__, "--reason", "AB-123-CD")
    assert r.exit_code == 2 and MESSAGE in r.output
    r = cli("watchlist", "expire", "1", "--reason", "found ABC1234")
    assert r.exit_code == 2 and MESSAGE in r.output
    c = make_crossing(secure_env.lane(LANE), plate="HLD3030", seed=93)
    assert secure_env.archive.store(c)
    r = cli("holds", "add", "CASE-2026-0042", str(c.id), "--reason", "driver of HLD 3030")
    assert r.exit_code != 0 and MESSAGE in r.output
    assert not [x for x in _audit_reasons(pool)[before:] if plate_like(x)]
    # case numbers pass
    who, password = cli_user(secure_env.archive)
    r = cli("hotlist", "add", *who, "CLI7002", "--reason", "INC 12345", input=password)
    assert r.exit_code == 0, r.output
    r = cli("holds", "add", "CASE-2026-0043", str(c.id), "--reason", "CASE-2026-0043")
    assert r.exit_code == 0, r.output
    who, password = cli_user(secure_env.archive)
    r = cli("watchlist", "list", *who, "--kind", "plate", input=password)
    assert r.exit_code == 0 and "CLI7002" in r.output and "INC 12345" in r.output


def test_cli_hold_with_a_plate_in_its_reason_stores_nothing(cli, secure_env) -> None:  # type: ignore[no-untyped-def]
    c = make_crossing(secure_env.lane(LANE), plate="HLD3031", seed=94)
    assert secure_env.archive.store(c)
    r = cli("holds", "add", "CASE-2026-0044", str(c.id), "--reason", "driver of HLD3031")
    assert r.exit_code != 0
    with secure_env.archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM legal_holds WHERE crossing_id = %s", (c.id,)
        ).fetchone()
    assert row == (0,)


def test_booth_review_with_a_plate_in_its_reason_stores_nothing(
    api, supervisor, secure_env
) -> None:  # type: ignore[no-untyped-def]
    svc, _ = api
    c = make_crossing(secure_env.lane(LANE), plate="RVW2020", seed=95)
    assert secure_env.archive.store(c)
    r = supervisor.post(
        f"/api/crossings/{c.id}/review",
        json={"action": "confirm", "reason": "RVW 2020 ok"},
    )
    _refused(r)
    with svc.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM plate_reviews WHERE crossing_id = %s", (c.id,)
        ).fetchone()
    assert row == (0,)


# Entries stored in clear before migration 011 -------------------------------------------


@pytest.fixture
def old_database(secure_env: SecureEnv) -> Iterator[SecureEnv]:
    """A new database at the schema before 011, as an older release left it."""
    dbname = "rest_" + secrets.token_hex(4)
    admin = secure_env.endpoints.admin_url
    owner = str(conninfo_to_dict(admin)["user"])
    with psycopg.connect(make_conninfo(admin, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(dbname), sql.Identifier(owner)
            )
        )
    ep = dataclasses.replace(
        secure_env.endpoints,
        database_url=make_conninfo(secure_env.endpoints.database_url, dbname=dbname),
        admin_url=make_conninfo(admin, dbname=dbname),
    )
    with psycopg.connect(ep.admin_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (number integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for number, name, text in migrations():
            if number >= 11:
                break
            with conn.transaction():
                conn.execute(text)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (number, name))
    yield dataclasses.replace(secure_env, endpoints=ep, dbname=dbname)


def test_entries_and_previews_from_before_are_sealed_or_dropped(old_database, cli) -> None:  # type: ignore[no-untyped-def]
    env = old_database
    search = load_search_key(env.keys_dir)
    face = search.protect_embedding(np.ones(128, dtype=np.float32) / np.sqrt(128))
    with psycopg.connect(env.endpoints.admin_url) as conn:
        register_vector(conn)
        plate_id = conn.execute(
            "INSERT INTO watchlist (kind, label, plate_text, reason, created_by)"
            " VALUES ('plate', 'Oldlabel stolen van', 'OLD4711', 'case 9', 't') RETURNING id"
        ).fetchone()
        face_id = conn.execute(
            "INSERT INTO watchlist (kind, label, embedding, reason, created_by)"
            " VALUES ('face', 'Oldperson Jane', %s, 'warrant 5', 't') RETURNING id",
            (face,),
        ).fetchone()
        assert plate_id is not None and face_id is not None
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hotlist_index (watch_id, idx, kind) VALUES (%s, %s, %s)",
                [(plate_id[0], i, k) for i, k in plate_index_rows(search, "OLD4711")],
            )
        _, jpg = cv2.imencode(".jpg", np.zeros((8, 8, 3), dtype=np.uint8))
        conn.execute(
            "INSERT INTO calibration_previews (lane_id, camera_id, jpeg, width, height, blurred)"
            " VALUES ('old', 'old-cam', %s, 8, 8, 0)",
            (jpg.tobytes(),),
        )
    r = cli("hotlist", "seal", env=env)  # migrates to 011, seals, rewrites the table
    assert r.exit_code == 0, r.output
    assert "sealed 2 entries" in r.output
    assert migrate(env.endpoints.admin_url) == []
    pool = open_pool(env.endpoints.database_url)
    try:
        got = {e.id: e for e in wl.entries(pool, search=search)}
        assert (got[plate_id[0]].plate_text, got[plate_id[0]].label) == (
            "OLD4711",
            "Oldlabel stolen van",
        )
        assert (got[face_id[0]].label, got[face_id[0]].reason) == (
            "Oldperson Jane",
            "warrant 5",
        )
        assert watchlist.plate_hits(
            pool,
            plate_index=search.plate_index("OLD4711"),
            fold_index=None,
            at=datetime.now(UTC),
        ) == [(plate_id[0], "exact")]
        with pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM calibration_previews").fetchone() == (0,)
            assert conn.execute(
                "SELECT count(*) FROM watchlist WHERE sealed IS NULL OR label IS NOT NULL"
                " OR plate_text IS NOT NULL OR reason <> ''"
            ).fetchone() == (0,)
            assert watchlist.all_sealed_validated(pool)
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO watchlist (kind, label, plate_text, reason, created_by)"
                    " VALUES ('plate', 'x', 'NEW1', '', 't')"
                )
        texts = ["OLD4711", "Oldlabel", "Oldperson"]
        assert _scan_database(env.endpoints.admin_url, texts=texts, blobs=[b"JFIF"]) == []
        # the rewritten table's files hold none of it (the WAL still does, until recycled)
        root = _pgdata(env)
        if root is not None:
            _checkpoint(env.endpoints.admin_url)
            with psycopg.connect(env.endpoints.admin_url) as conn:
                rel = conn.execute("SELECT pg_relation_filepath('watchlist')").fetchone()
            assert rel is not None
            files = [p for p in root.glob(str(rel[0]) + "*") if p.is_file()]
            assert files
            assert [p.name for p in files if any(t.encode() in p.read_bytes() for t in texts)] == []
    finally:
        pool.close()
