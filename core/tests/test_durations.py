import pytest

from core.templatetags.durations import duration


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (600, "10 hours"),
        (60, "1 hour"),
        (90, "1 hour 30 minutes"),
        (45, "45 minutes"),
        (1, "1 minute"),
        (1440, "1 day"),
        (2880, "2 days"),
        (1500, "25 hours"),
        (0, "0 minutes"),
        (None, ""),
    ],
)
def test_a_duration_reads_as_people_say_it(minutes, words):
    assert duration(minutes) == words
