from capture.rejects import FORGET_AFTER_S, RejectedBoxes


def test_a_still_box_stays_rejected_and_a_moved_one_is_looked_at_again() -> None:
    r = RejectedBoxes()
    r.add((100, 100, 200, 140), 0.0)
    assert r.covers((101, 100, 201, 140), 1.0)  # same place
    assert r.covers((100, 101, 200, 141), 1.0 + FORGET_AFTER_S)  # refreshed at 1.0
    assert not r.covers((150, 100, 250, 140), 3.5)  # moved
    assert not r.covers((100, 100, 200, 140), 3.6 + 2 * FORGET_AFTER_S)  # forgotten
