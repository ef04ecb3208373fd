"""Post our events to the configured webhook endpoints as they happen, retrying with backoff.

Runs until stopped (`make run` starts it beside the callback applier), or once with --once.
Idle, it looks for new records every 0.2 s. A third process beside the send worker and the
applier, so a slow endpoint never slows sending or callback intake.
"""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from campaigns.services.webhooks import webhooks_deliver
from campaigns.webhooks import Dispatcher

IDLE_SLEEP = 0.2
ERROR_SLEEP = 1.0


class Command(BaseCommand):
    help = "Deliver outbound webhooks (signed JSON events) to the configured endpoints."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Deliver what is due, then stop.")

    def handle(self, *args, once, **options):
        if once:
            self.stdout.write(self.summary(webhooks_deliver()))
            return
        self.loop(verbose=options["verbosity"] >= 2)

    def loop(self, *, verbose: bool):
        stopping = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.append(True))
        self.stdout.write("Delivering webhooks as events happen (Ctrl-C stops).")
        with Dispatcher() as dispatcher:
            while not stopping:
                try:
                    counts = dispatcher.step(timezone.now())
                    if verbose and (counts["posted"] or counts["events"]):
                        self.stdout.write(self.summary(counts))
                    # A post finishing wakes the loop at once; otherwise look again shortly.
                    if counts["posted"]:
                        continue
                    if dispatcher.in_flight:
                        dispatcher.wait(IDLE_SLEEP)
                    else:
                        time.sleep(IDLE_SLEEP)
                except (OperationalError, InterfaceError) as exc:
                    self.stderr.write(
                        f"Database unavailable ({exc}); retrying in {ERROR_SLEEP:g} s."
                    )
                    close_old_connections()
                    time.sleep(ERROR_SLEEP)
            dispatcher.finish()
        self.stdout.write("Stopped.")

    @staticmethod
    def summary(counts) -> str:
        shown = {key: value for key, value in counts.items() if value}
        if not shown:
            return "Nothing to deliver."
        return ", ".join(f"{key} {value}" for key, value in sorted(shown.items()))
