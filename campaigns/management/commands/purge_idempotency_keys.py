"""Forget the API's Idempotency-Keys older than MPM_API_IDEMPOTENCY_HOURS (24 h by default).

The recovery task purges them while campaigns are sending; run this from cron as well where
the API is used much between sends.
"""

from django.core.management.base import BaseCommand

from campaigns.services.api import idempotency_purge


class Command(BaseCommand):
    help = "Forget the API's Idempotency-Keys older than MPM_API_IDEMPOTENCY_HOURS."

    def handle(self, *args, **options):
        self.stdout.write(f"{idempotency_purge()} Idempotency-Key(s) forgotten.")
