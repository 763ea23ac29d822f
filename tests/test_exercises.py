"""The notebooks' exercise checker accepts right answers and refuses wrong ones."""
import pytest

from xnb.exercises import EXERCISES, check

RIGHT = {"tour.1": "leaves", "tour.2": (64, 8, 8), "tour.3": "relu7"}
WRONG = {"tour.1": "center", "tour.2": (64, 16, 16), "tour.3": "relu6"}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_right_and_wrong_answers(name, capsys):
    assert check(name, RIGHT[name]) is True
    assert "correct" in capsys.readouterr().out
    assert check(name, WRONG[name]) is False
    assert check(name, None) is False
    assert "hint" in capsys.readouterr().out


def test_unknown_exercise():
    with pytest.raises(ValueError, match="exercise: unknown exercise 'tour.9'; known: tour.1"):
        check("tour.9", 1)
