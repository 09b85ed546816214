"""A model's task in its tags, and what differs between two tasks."""

import pytest

from mlops.task import MAX_TAG_TEXT, change, task_from_tags, task_of, task_tags

CHAMPION = task_of("default", "1", ["LIMIT_BAL", "AGE", "PAY_0"])


def test_a_task_survives_its_tags():
    assert task_from_tags(task_tags(CHAMPION)) == CHAMPION
    assert task_from_tags({}) is None  # a version registered before tasks were recorded


@pytest.mark.parametrize(
    ("candidate", "said"),
    [
        (task_of("default", "1", ["PAY_0", "AGE", "LIMIT_BAL"]), None),
        (
            task_of("is_young", "yes", ["LIMIT_BAL", "PAY_0"]),
            "the candidate predicts is_young = yes, champion 1 predicts default = 1",
        ),
        (
            task_of("default", "0", ["LIMIT_BAL", "AGE", "PAY_0"]),
            "the candidate predicts default = 0, champion 1 predicts default = 1",
        ),
        (
            task_of("default", "1", ["LIMIT_BAL", "AGE", "PAY_0", "EDUCATION"]),
            "the candidate needs column EDUCATION, which champion 1's callers do not send",
        ),
        (
            task_of("default", "1", ["LIMIT_BAL", "PAY_0"]),
            "the candidate refuses column AGE, which champion 1's callers send",
        ),
    ],
    ids=["same-columns-reordered", "other-target", "other-positive-class", "added", "dropped"],
)
def test_what_changed_is_said_in_words(candidate, said):
    assert change(candidate, CHAMPION, "1") == said


def test_a_feature_list_too_long_for_a_tag_is_compared_by_its_digest():
    many = [f"column_{i:05d}" for i in range(MAX_TAG_TEXT // 8)]
    wide = task_from_tags(task_tags(task_of("default", "1", many)))
    assert wide.features is None
    assert change(task_of("default", "1", list(reversed(many))), wide, "2") is None
    other = task_of("default", "1", many[:-1])
    assert change(other, wide, "2") == "the candidate takes other feature columns than champion 2"
