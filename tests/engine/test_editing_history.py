import pytest

from panohead.editing import Camera, Direction, EditState, History, Latent, Mixing


def edit_sequence():
    """One edit of every kind the app offers, in order."""
    direction = Direction.of("PC1", [1.0, 0.0, 0.0, 0.0])
    return [
        ("seed 5", lambda s: s.replace(latent=Latent.from_seed(5))),
        ("psi 0.5", lambda s: s.replace(psi=0.5)),
        ("mix fine", lambda s: s.replace(mixing=Mixing(Latent.from_seed(9), (3, 6), (0, 2)))),
        ("PC1 +2", lambda s: s.with_direction(direction, 2.0)),
        ("camera", lambda s: s.replace(camera=Camera(yaw=180.0, pitch=10.0))),
        ("background seed 7", lambda s: s.replace(background=Latent.from_seed(7))),
    ]


def test_undo_and_redo_round_trip_a_sequence_of_edits():
    history = History(EditState())
    states = [history.current]
    for label, edit in edit_sequence():
        assert history.push(edit(history.current), label)
        states.append(history.current)
    assert history.undo_label == "background seed 7"
    for expected in reversed(states[:-1]):
        assert history.undo() == expected
    assert not history.can_undo and history.undo() == states[0]
    for expected in states[1:]:
        assert history.redo() == expected
    assert not history.can_redo and history.current == states[-1]


def test_a_new_edit_after_undo_drops_the_redo_steps():
    history = History(EditState())
    history.push(EditState(psi=0.5), "psi 0.5")
    history.push(EditState(psi=0.6), "psi 0.6")
    history.undo()
    history.push(EditState(psi=0.9), "psi 0.9")
    assert not history.can_redo
    assert history.undo() == EditState(psi=0.5)


def test_a_slider_drag_with_one_merge_key_is_one_undo_step():
    history = History(EditState())
    for psi in (0.6, 0.5, 0.4):
        history.push(EditState(psi=psi), f"psi {psi}", merge="psi")
    history.push(EditState(psi=0.4, camera=Camera(yaw=90.0)), "yaw 90")
    assert len(history) == 3
    history.undo()
    assert history.undo() == EditState()
    assert history.redo() == EditState(psi=0.4)


def test_after_undo_a_new_drag_does_not_merge_into_the_restored_step():
    history = History(EditState())
    history.push(EditState(psi=0.6), "psi", merge="psi")
    history.push(EditState(psi=0.6, camera=Camera(yaw=10.0)), "yaw")
    history.undo()
    history.push(EditState(psi=0.3), "psi", merge="psi")
    assert history.undo() == EditState(psi=0.6)


def test_pushing_the_current_state_again_records_nothing():
    history = History(EditState())
    assert not history.push(EditState(), "nothing")
    assert len(history) == 1 and not history.can_undo


def test_history_keeps_at_most_its_limit_dropping_the_oldest():
    history = History(EditState(psi=0.0), limit=5)
    for step in range(1, 10):
        history.push(EditState(psi=step / 10), f"psi {step}")
    assert len(history) == 5
    while history.can_undo:
        history.undo()
    assert history.current == EditState(psi=0.5)


def test_history_limit_must_allow_one_undo():
    with pytest.raises(ValueError, match="history limit must be at least 2"):
        History(EditState(), limit=1)
