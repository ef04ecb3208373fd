"""Sending hours in each recipient's own zone: open or not, and when they next open, across
midnight and across the clocks' changes."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.localtime import SendingHours

DAY = SendingHours(time(10), time(20))
NIGHT = SendingHours(time(20), time(2))
BERLIN, NEW_YORK, KOLKATA = (
    ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Asia/Kolkata")
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "local", "open_"),
    [
        (DAY, time(10), True),
        (DAY, time(19, 59), True),
        (DAY, time(20), False),  # the end is not included
        (DAY, time(9, 59), False),
        (NIGHT, time(23), True),
        (NIGHT, time(1, 30), True),  # after midnight, still the night before's hours
        (NIGHT, time(2), False),
        (NIGHT, time(12), False),
    ],
)
def test_hours_contain_their_start_not_their_end_and_may_cross_midnight(hours, local, open_):
    assert hours.contains(local) is open_


def test_within_the_hours_a_message_goes_at_once():
    at = utc(2026, 12, 3, 6, 0)  # 11:30 in Kolkata
    assert DAY.opens_at(at, KOLKATA) == at


def test_before_the_hours_it_waits_for_today_after_them_for_tomorrow():
    assert DAY.opens_at(utc(2026, 12, 3, 2, 0), KOLKATA) == utc(2026, 12, 3, 4, 30)  # 07:30 IST
    assert DAY.opens_at(utc(2026, 12, 3, 15, 0), KOLKATA) == utc(2026, 12, 4, 4, 30)  # 20:30 IST


def test_night_hours_open_in_the_evening_of_the_same_day():
    assert NIGHT.opens_at(utc(2026, 12, 3, 2, 0), BERLIN) == utc(2026, 12, 3, 19, 0)  # 03:00 CET
    assert NIGHT.opens_at(utc(2026, 12, 3, 0, 30), BERLIN) == utc(2026, 12, 3, 0, 30)  # 01:30


def test_the_opening_follows_the_clock_change():
    """Berlin moves to summer time on 2027-03-28: 10:00 that day is 08:00 UTC, not 09:00."""
    evening = utc(2027, 3, 27, 19, 30)  # 20:30 CET
    assert DAY.opens_at(evening, BERLIN) == utc(2027, 3, 28, 8, 0)
    autumn = utc(2026, 10, 24, 19, 30)  # 21:30 CEST; the 25th is back on CET
    assert DAY.opens_at(autumn, BERLIN) == utc(2026, 10, 25, 9, 0)


def test_an_opening_the_clocks_skip_comes_an_hour_later():
    """New York springs forward at 02:00 on 2026-03-08: 02:30 never happens that night."""
    hours = SendingHours(time(2, 30), time(6))
    opens = hours.opens_at(utc(2026, 3, 8, 5, 0), NEW_YORK)  # 00:00 EST
    assert opens == utc(2026, 3, 8, 7, 30)
    assert opens.astimezone(NEW_YORK).time() == time(3, 30)  # EDT


def test_hours_that_start_and_end_together_are_refused():
    with pytest.raises(ValueError, match="must not start and end at the same time"):
        SendingHours(time(10), time(10))


zones = st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
                         "Pacific/Chatham", "America/Sao_Paulo", "UTC"])  # fmt: skip
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def local(moment: datetime, zone: ZoneInfo) -> time:
    return moment.astimezone(zone).time().replace(tzinfo=None)


@given(start=times, end=times, at=moments, zone=zones)
def test_the_next_opening_is_the_first_moment_within_the_hours(start, end, at, zone):
    if start == end:
        return
    hours, zone = SendingHours(start, end), ZoneInfo(zone)
    opens = hours.opens_at(at, zone)
    if hours.contains(local(at, zone)):
        assert opens == at
        return
    assert at < opens < at + timedelta(days=1, hours=2)
    assert not hours.contains(local(opens - timedelta(minutes=1), zone))  # not a minute late
    # It opens at the hours' start, or later when the clocks skipped that time.
    clocks_changed = (opens - timedelta(hours=3)).astimezone(zone).utcoffset() != opens.astimezone(
        zone
    ).utcoffset()
    assert local(opens, zone) == start or clocks_changed
