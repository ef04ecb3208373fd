"""Apply Kaleyra's stored callbacks as they arrive: statuses, replies, orders, template events.

Runs until stopped (`make run` starts it beside the web server), or once with --once. Idle, it
looks for new rows every 0.05 s, so a callback is applied within about 0.1 s of arriving.
"""

import signal
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from campaigns.callbacks import apply_pending_callbacks, retry_waiting_events
from campaigns.models import CallbackInbox
from campaigns.services.tallies import tallies_compact

IDLE_SLEEP = 0.05
RETRY_INTERVAL = 1.0  # seconds between looks for waiting events when no callback arrives
ERROR_SLEEP = 1.0


class Command(BaseCommand):
    help = "Apply stored Kaleyra callbacks (delivery statuses, replies, orders) as they arrive."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Apply what is stored, then stop.")
        parser.add_argument(
            "--batch", type=int, default=1000, help="Callbacks per transaction (default 1000)."
        )
        parser.add_argument(
            "--purge-days",
            type=float,
            metavar="DAYS",
            help="Instead: delete processed callbacks older than DAYS (events stay), then stop.",
        )

    def handle(self, *args, once, batch, purge_days, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1.", returncode=2)
        if purge_days is not None:
            return self.purge(purge_days)
        if once:
            totals = {}
            while True:
                counts = apply_pending_callbacks(limit=batch)
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
                if not counts.get("rows") and not counts.get("contended"):
                    break
            self.stdout.write(self.summary(totals))
            return
        self.loop(batch, verbose=options["verbosity"] >= 2)

    def loop(self, batch: int, *, verbose: bool):
        stopping = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.append(True))
        self.stdout.write("Applying Kaleyra callbacks as they arrive (Ctrl-C stops).")
        last_retry = 0.0
        while not stopping:
            try:
                counts = apply_pending_callbacks(limit=batch, retry=False)
                now = time.monotonic()
                if now - last_retry >= RETRY_INTERVAL:
                    # Events that waited for their Message (its send answer was not recorded
                    # yet): matched once the engine has recorded it.
                    counts.update(retry_waiting_events())
                    tallies_compact()  # the counter deltas of what was applied meanwhile
                    last_retry = now
                if counts.get("rows") and verbose:
                    self.stdout.write(self.summary(counts))
                # A full batch means more are waiting: go on at once. Otherwise let a few
                # arrive (each batch has a fixed cost): a callback still waits 0.1 s at most.
                if counts.get("rows", 0) < batch and not counts.get("contended"):
                    time.sleep(IDLE_SLEEP)
            except (OperationalError, InterfaceError) as exc:
                self.stderr.write(f"Database unavailable ({exc}); retrying in {ERROR_SLEEP:g} s.")
                close_old_connections()
                time.sleep(ERROR_SLEEP)
        self.stdout.write("Stopped.")

    def purge(self, days: float):
        cutoff = timezone.now() - timedelta(days=days)
        total = 0
        while True:
            ids = list(
                CallbackInbox.objects.filter(processed_at__lt=cutoff).values_list("id", flat=True)[
                    :5000
                ]
            )
            if not ids:
                break
            total += CallbackInbox.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(f"Deleted {total} processed callback(s) older than {days:g} day(s).")

    @staticmethod
    def summary(counts) -> str:
        if not counts:
            return "Nothing to apply."
        return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))
