"""When a scheduled campaign goes out: the marketer's local date and time in their zone, checked
(in the future, at most MAX_AHEAD ahead, a time that exists on that day) and turned into UTC."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.utils import timezone

MAX_AHEAD = timedelta(days=90)
# A time "in each customer's own zone" comes first here (UTC+14): the campaign starts then, and
# each message waits for that time in its recipient's zone.
EARLIEST_ZONE = "Pacific/Kiritimati"
# … and last here (UTC-12): until then it is still to come for someone.
LATEST_ZONE = "Etc/GMT+12"
EACH_RECIPIENTS_ZONE = "each recipient's own time zone"
TIME_ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


class ScheduleProblem(ValueError):
    """A send time that cannot be used; the message says why, naming the field."""


def local_start_time(local: str, *, now: datetime | None = None) -> datetime:
    """When a campaign sent at `local` in each recipient's own zone starts: when that time
    comes first anywhere (UTC+14), or now when it has come there already but not everywhere
    (a marketer's evening in Europe is tomorrow morning in the Pacific); each message then waits
    for its own zone's `local`, or goes at once where it has passed. ScheduleProblem when it
    has passed everywhere."""
    now = now or timezone.now()
    send_time(local, LATEST_ZONE, now=now)  # still to come somewhere, within MAX_AHEAD
    return max(local_to_utc(local, EARLIEST_ZONE), now)


def send_time(local: str, zone_name: str, *, now: datetime | None = None) -> datetime:
    """The aware UTC time of `local` ("2026-12-03T10:00", as a datetime-local field sends it)
    in `zone_name`, in the future and at most MAX_AHEAD ahead."""
    now = now or timezone.now()
    when = local_to_utc(local, zone_name)
    if when <= now:
        raise ScheduleProblem("send time: it has passed already; choose a time in the future.")
    if when > now + MAX_AHEAD:
        raise ScheduleProblem(f"send time: at most {MAX_AHEAD.days} days ahead.")
    return when


def local_to_utc(local: str, zone_name: str) -> datetime:
    """`local` in `zone_name` as an aware UTC time; ScheduleProblem for what is not a date and
    time, an unknown zone, or a time the clocks skip there."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleProblem(f"time zone: “{zone_name[:64]}” is not a known time zone.") from None
    try:
        naive = datetime.fromisoformat(local.strip())
    except ValueError:
        raise ScheduleProblem("send time: give a date and a time, e.g. 2026-12-03 10:00.") from None
    if naive.tzinfo is not None:
        raise ScheduleProblem("send time: give the local date and time, without a zone.")
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != naive:
        raise ScheduleProblem(
            f"send time: {naive:%Y-%m-%d %H:%M} does not exist in {zone_name} "
            "(the clocks move forward then); choose another time."
        )
    return aware.astimezone(ZoneInfo("UTC"))
