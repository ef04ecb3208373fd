"""Each recipient's own clock: the time zone of a number (its contact's, else its country's, else
the app's), a local time there in UTC, and sending hours ("10:00 to 20:00 where they are",
across midnight too). zoneinfo does the clock changes."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as number_time_zones

from campaigns.models import Campaign, Contact


def guess_time_zone(phone: str) -> str:
    """The number's time zone when its country (or area) has one, else "" (e.g. India:
    Asia/Kolkata; the USA's +1 212: America/New_York)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in number_time_zones.time_zones_for_number(number) if "/" in z]
    return zones[0] if zones else ""


def zones_of(numbers: list[str]) -> dict[str, ZoneInfo]:
    """Each number's zone: its contact's, else guessed from the number, else the app's. One
    query for the chunk."""
    stored = dict(
        Contact.objects.filter(phone__any_of=numbers)
        .exclude(time_zone="")
        .values_list("phone", "time_zone")
    )
    zones = {}
    for number in numbers:
        name = stored.get(number) or guess_time_zone(number) or settings.TIME_ZONE
        try:
            zones[number] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zones[number] = ZoneInfo(settings.TIME_ZONE)
    return zones


def local_send_times(local: str, numbers: list[str]) -> dict[str, datetime]:
    """When `local` ("2026-12-03T10:00") is in each number's own zone, in UTC."""
    naive = datetime.fromisoformat(local)
    return {n: naive.replace(tzinfo=zone).astimezone(UTC) for n, zone in zones_of(numbers).items()}


@dataclass(frozen=True)
class SendingHours:
    """The local hours a campaign's messages may go out in, `start` included, `end` not; an
    `end` before `start` runs across midnight (20:00 to 02:00)."""

    start: time
    end: time

    def __post_init__(self):
        if self.start == self.end:
            raise ValueError("Sending hours must not start and end at the same time.")

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def opens_at(self, at: datetime, zone: ZoneInfo) -> datetime:
        """`at` itself when it falls within the hours in `zone`, else when they next open there
        (UTC). An opening the clocks skip (02:30 on a spring-forward night) comes an hour later."""
        local = at.astimezone(zone)
        if self.contains(local.time().replace(tzinfo=None)):
            return at
        day = local.date()
        opening = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        if opening <= at:
            opening = datetime.combine(day + timedelta(days=1), self.start, tzinfo=zone)
            opening = opening.astimezone(UTC)
        return opening


def sending_hours(campaign: Campaign) -> SendingHours | None:
    """The campaign's sending hours, None when it may send at any hour."""
    if campaign.send_from is None or campaign.send_until is None:
        return None
    if campaign.send_from == campaign.send_until:
        return None
    return SendingHours(campaign.send_from, campaign.send_until)
