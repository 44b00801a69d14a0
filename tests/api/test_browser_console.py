"""The web console in a real browser (Debian chromium driven by Playwright for Python).

Log in with password + TOTP, watch a crossing appear live in the booth view, correct it from
the keyboard, search a plate with a reason, open the crossing; a contractor sees lane health
and cannot reach traveller data. Screenshots of each page go to var/screenshots/ (gitignored).
Skips when chromium or playwright is absent.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lanecap.api import create_app
from lanecap.api.services import ApiServices, build_services
from lanecap.api.testing import (
    Account,
    CodeFaceEncoder,
    ServerThread,
    crossing,
    face_image,
    live_read,
    make_account,
)
from lanecap.config import LaneConfig
from lanecap.preview import PreviewSealer
from storage.previews import save_preview

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="playwright is not installed (pip install playwright; never `playwright install`)",
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LANE = "web-lane-1"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def server(settings, endpoints, archive) -> Iterator[tuple[ApiServices, str]]:  # type: ignore[no-untyped-def]
    archive.register_lane(
        LaneConfig.model_validate(
            {"id": LANE, "cameras": [{"id": "web-front", "role": "front_plate", "source": "x"}]}
        )
    )
    svc = build_services(settings, endpoints, face_encoder=CodeFaceEncoder())
    with ServerThread(create_app(settings, svc)) as srv:
        assert svc.feed.listening.wait(10)
        yield svc, srv.url
    svc.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    yield b
    b.close()
    pw.stop()


def _login(page: Any, url: str, account: Account, *, shot: str | None = None) -> None:
    page.goto(f"{url}/login")
    page.fill("#name", account.name)
    page.fill("#password", account.password)
    page.fill("#totp", account.code())
    if shot:
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.press("#totp", "Enter")
    page.wait_for_url(lambda u: "/login" not in u, timeout=10_000)


def _wait_images(page: Any, selector: str, timeout: float = 5) -> None:
    """Until every image matched has loaded (page.evaluate: CSP forbids wait_for_function)."""
    js = f"Array.from(document.querySelectorAll({selector!r})).every(i => i.complete && i.naturalWidth > 0)"
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < deadline, f"images {selector} did not load"
        time.sleep(0.05)


def test_officer_watches_searches_and_opens(server, browser, archive) -> None:  # type: ignore[no-untyped-def]
    svc, url = server
    officer = make_account(archive, svc.trail, role="officer", prefix="web")
    archive.store(crossing(LANE, "WEB0001", face_seed=11, at=time.time() - 120))
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, url, officer, shot="01-login.png")
    assert page.url.endswith("/booth")
    page.select_option("#lane-select", LANE)  # the console reloads on the chosen lane
    page.wait_for_url(f"{url}/booth?lane={LANE}")
    page.wait_for_selector("#live-state.on", timeout=10_000)

    # crossings are stored: each appears in the booth view
    seen_after = []
    for plate in ("WEB7775", "WEB7776", "WEB7777"):
        c = crossing(LANE, plate, face_seed=12)
        assert archive.store(c)
        stored = time.time()
        page.wait_for_selector(f'.current-card[data-id="{c.id}"]', timeout=5_000, state="attached")
        arrived = int(page.get_attribute("body", "data-last-arrival") or 0) / 1000
        seen_after.append(arrived - stored)
        assert plate in page.inner_text("#current")
    # a hot-list match recorded after the crossing raises the alert on the card already shown
    from storage import watchlist

    entry = watchlist.add_plate(
        svc.pool,
        search=svc.search_key,
        label="stolen vehicle",
        plate_text="WEB7777",
        reason="report 1",
        created_by="t",
        index=[],
    )
    watchlist.finish_matching(
        svc.pool, c.id, [watchlist.MatchRow(entry, "plate", "match", "exact", 1.0)]
    )
    page.wait_for_selector("#current.is-alert", timeout=5_000)
    assert "stolen vehicle" in page.inner_text("#current")
    _wait_images(page, "#current img")
    page.screenshot(path=str(SHOTS / "02-booth.png"), full_page=True)
    print(
        "browser: shown after archive.store() returned (ms):", [round(x * 1000) for x in seen_after]
    )
    assert max(seen_after) <= 1.0

    # correct the read from the keyboard
    page.keyboard.press("e")
    page.fill("#correct-text", "WEB7771")
    page.press("#correct-text", "Enter")
    page.wait_for_selector(".review-note", timeout=5_000)
    assert "WEB7771" in page.inner_text("#current")

    # search with a reason, keyboard: "/" focuses the plate field
    page.keyboard.press("g")
    page.keyboard.press("s")
    page.wait_for_url(f"{url}/search")
    page.keyboard.press("/")
    page.keyboard.type("WEB777")
    page.select_option("#mode", "fuzzy")
    page.fill("#reason", "case 2026-114")
    page.press("#reason", "Enter")
    page.wait_for_selector("#results")
    rows = page.locator("#results tbody tr[data-id]")
    assert rows.count() >= 1
    assert "WEB7771" in page.inner_text("#results")
    page.screenshot(path=str(SHOTS / "03-search.png"), full_page=True)

    # face search by photo (the fake encoder reads the code painted into the photo)
    import cv2

    _, png = cv2.imencode(".png", face_image(12))
    page.click("#face-search summary")
    page.set_input_files(
        "#face-form [name=photo]",
        files=[{"name": "probe.png", "mimeType": "image/png", "buffer": png.tobytes()}],
    )
    page.fill("#face-form [name=reason]", "case 2026-115")
    page.click("#face-form button")
    page.wait_for_selector("#face-results tbody tr[data-id]")
    assert "WEB77" in page.inner_text("#face-results")
    page.screenshot(path=str(SHOTS / "03b-face-search.png"), full_page=True)
    page.keyboard.press("Escape")

    # open the selected result with the keyboard
    page.keyboard.press("o")
    page.wait_for_selector("#detail")
    assert str(c.id) in page.inner_text("#detail")
    assert "case 2026-114" in page.inner_text("#viewers")
    assert page.locator("#reviews tbody tr").count() == 1
    _wait_images(page, "#detail img")
    page.screenshot(path=str(SHOTS / "04-crossing.png"), full_page=True)
    assert not errors, errors
    ctx.close()


def test_booth_shows_the_vehicle_in_the_lane_then_its_crossing(server, browser, archive) -> None:  # type: ignore[no-untyped-def]
    svc, url = server
    officer = make_account(archive, svc.trail, role="officer", prefix="web")
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, url, officer)
    page.goto(f"{url}/booth?lane={LANE}")
    page.wait_for_selector("#live-state.on", timeout=10_000)
    assert archive.keys is not None
    now = time.time()
    rec = PreviewSealer(archive.keys).seal(live_read(LANE, "WEB4242", at=now, face_seed=14))
    assert save_preview(archive.pool, rec)
    page.wait_for_selector(f'.current-card.provisional[data-preview="{rec.id}"]', timeout=5_000)
    assert "WEB4242" in page.inner_text("#current")
    assert "in lane" in page.inner_text("#current")
    assert page.query_selector("#current img.face-crop") is not None  # the driver, already
    _wait_images(page, "#current img")
    page.screenshot(path=str(SHOTS / "02b-booth-vehicle-in-lane.png"), full_page=True)
    # the vehicle leaves; its stored crossing takes the preview's place
    c = crossing(LANE, "WEB4242", face_seed=13, at=now - 0.2)
    assert archive.store(c)
    page.wait_for_selector(f'.current-card[data-id="{c.id}"]', timeout=5_000)
    assert page.query_selector(".current-card.provisional") is None
    assert page.query_selector(f'#recent tr[data-id="{c.id}"]') is not None
    assert errors == []
    ctx.close()


def test_supervisor_manages_lists(server, browser, archive) -> None:  # type: ignore[no-untyped-def]
    svc, url = server
    sup = make_account(archive, svc.trail, role="supervisor", prefix="web")
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    _login(page, url, sup)
    page.goto(f"{url}/lists")
    page.fill("#add-plate [name=plate]", "HOT9911")
    page.fill("#add-plate [name=label]", "stolen vehicle")
    page.on("dialog", lambda d: d.accept("recovered"))
    page.fill("#add-plate [name=reason]", "report 2026-77")
    page.click("#add-plate button")
    page.wait_for_selector("#entries >> text=HOT9911")
    page.click("#entries [data-expire]")
    page.wait_for_selector("#entries tr.expired >> text=HOT9911")
    page.screenshot(path=str(SHOTS / "05-lists.png"), full_page=True)
    ctx.close()


def test_contractor_sees_health_never_traveller_data(server, browser, archive) -> None:  # type: ignore[no-untyped-def]
    from storage import health

    svc, url = server
    import cv2
    import numpy as np

    from lanecap.api.blur import blur_preview

    health.report(svc.pool, health.CameraHealth(LANE, "web-front", "ok", 5.0, 3, 0.91, ""))
    health.report(
        svc.pool,
        health.CameraHealth(LANE, "web-rear", "down", 0.0, 1200, None, "no frames for 30 s"),
    )
    frame = np.full((360, 640, 3), (70, 90, 80), dtype=np.uint8)
    cv2.rectangle(frame, (40, 200), (600, 340), (40, 40, 40), -1)  # the lane
    cv2.rectangle(frame, (250, 240), (390, 280), (235, 235, 235), -1)
    cv2.putText(frame, "SECRET9", (258, 272), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    _, jpg = cv2.imencode(".jpg", frame)
    out = blur_preview(jpg.tobytes(), boxes=[(250, 240, 390, 280)])
    health.save_preview(
        svc.pool,
        health.Preview(LANE, "web-front", None, out.jpeg, out.width, out.height, out.regions),
        search=svc.search_key,
    )
    archive.store(crossing(LANE, "SECRET9", face_seed=13))
    who = make_account(archive, svc.trail, role="contractor", prefix="web")
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    _login(page, url, who)
    assert page.url.endswith("/health")
    assert "web-front" in page.inner_text("#cameras")
    page.screenshot(path=str(SHOTS / "06-health.png"), full_page=True)
    nav = page.inner_text("header nav")
    assert "Booth" not in nav and "Search" not in nav
    for path in ("/booth", "/search?plate=SECRET9&reason=curious", "/lists"):
        resp = page.goto(f"{url}{path}")
        assert resp is not None and resp.status == 403, path
        assert "SECRET9" not in page.content()
    page.screenshot(path=str(SHOTS / "07-contractor-refused.png"), full_page=True)
    api = page.request.get(f"{url}/api/search/crossings?plate=SECRET9&reason=curious")
    assert api.status == 403 and api.json()["error"]["code"] == "forbidden"
    live = page.request.get(f"{url}/api/lanes/{LANE}/recent")
    assert live.status == 403
    ctx.close()
