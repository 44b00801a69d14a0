"""1:1 document checks and policy-gated history linkage, on real storage, audited."""

from __future__ import annotations

import pytest

from lanecap.api.testing import CodeFaceEncoder, crossing, face_image
from lanecap.config import LaneConfig
from lanecap.evidence import evidence_reader
from lanecap.identity import PolicyDisabled, history_links, verify_document
from lanecap.security.errors import Forbidden
from lanecap.security.roles import Principal
from recognition.faces.match import Decision, OperatingPoint
from storage import audit
from tests.conftest import ingest_all

LANE = "id-lane"
OFFICER = Principal(name="id-test", role="officer")


@pytest.fixture(scope="module")
def stored(archive):  # type: ignore[no-untyped-def]
    archive.register_lane(
        LaneConfig.model_validate(
            {"id": LANE, "cameras": [{"id": f"{LANE}-front", "role": "front_plate", "source": "x"}]}
        )
    )
    cs = {
        "a": crossing(LANE, "IDA1111", face_seed=901, at=1000.0),
        "a_other_plate": crossing(LANE, "IDB2222", face_seed=901, at=2000.0),
        "a_plate_other_driver": crossing(LANE, "IDA1111", face_seed=902, at=3000.0),
        "stranger": crossing(LANE, "IDC3333", face_seed=903, at=4000.0),
    }
    for c in cs.values():
        assert archive.store(c)
    assert ingest_all(archive) >= len(cs)
    return cs


def test_document_photo_check_is_match_no_match_or_unknown(settings, archive, stored) -> None:  # type: ignore[no-untyped-def]
    reader = evidence_reader(settings, archive.pool, archive.objects)
    enc = CodeFaceEncoder()
    cid = stored["a"].id
    same = verify_document(reader, OFFICER, cid, face_image(901), encoder=enc, reason="booth check")
    other = verify_document(
        reader, OFFICER, cid, face_image(903), encoder=enc, reason="booth check"
    )
    blank = face_image(901).copy()
    blank[0, 0] = (0, 0, 0)  # the fake encoder finds no face
    none = verify_document(reader, OFFICER, cid, blank, encoder=enc, reason="booth check")
    assert (same.decision, other.decision, none.decision) == (
        Decision.MATCH,
        Decision.NO_MATCH,
        Decision.UNKNOWN,
    )
    actions = [
        e.action
        for e in audit.entries(archive.pool, limit=10000)
        if e.target == f"crossing:{cid}/face_embedding"
    ]
    assert actions.count("face.verify") == 3
    with pytest.raises(Forbidden):
        verify_document(
            reader,
            Principal(name="c", role="contractor"),
            cid,
            face_image(901),
            encoder=enc,
            reason="x",
        )


def test_history_linkage_is_refused_unless_policy_allows(settings, archive, stored) -> None:  # type: ignore[no-untyped-def]
    reader = evidence_reader(settings, archive.pool, archive.objects)
    threshold = OperatingPoint.shipped().threshold
    with pytest.raises(PolicyDisabled):
        history_links(
            reader, OFFICER, stored["a"].id, enabled=False, reason="case 12", threshold=threshold
        )
    links = history_links(
        reader, OFFICER, stored["a"].id, enabled=True, reason="case 12", threshold=threshold
    )
    assert [i for i, _ in links.same_face_other_plate] == [stored["a_other_plate"].id]
    assert [i for i, _ in links.same_plate_other_driver] == [stored["a_plate_other_driver"].id]
    entries = [e for e in audit.entries(archive.pool, limit=10000) if e.action == "linkage.search"]
    assert entries and entries[-1].reason == "case 12"
    assert "IDA1111" not in str(entries[-1].detail)
