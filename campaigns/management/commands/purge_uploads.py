"""Remove recipient uploads left unconfirmed longer than MPM_UPLOAD_LIFETIME_HOURS (files and rows).

The app books a purge for each upload on workers that can wait (the database backend); run this
from cron where they cannot, or to clean up at once.
"""

from django.core.management.base import BaseCommand

from campaigns.services.uploads import upload_purge


class Command(BaseCommand):
    help = "Remove recipient uploads never confirmed (older than MPM_UPLOAD_LIFETIME_HOURS)."

    def handle(self, *args, **options):
        self.stdout.write(f"{upload_purge()} upload(s) removed.")
