"""Read Kaleyra's v2 template list (KALEYRA_WABA_ID) into our message templates, then print what
changed. Exits non-zero when the list could not be read completely (what was read is kept).

With a worker running (`db_worker`), the periodic `sync_templates_task` is booked as well and
repeats every MPM_TEMPLATE_SYNC_INTERVAL seconds; or run this from cron.
"""

from django.core.management.base import BaseCommand, CommandError

from campaigns.services import background, templates


class Command(BaseCommand):
    help = "Sync message templates from Kaleyra's template list (created, updated, vanished)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-schedule",
            action="store_true",
            help="Do not book the periodic sync task on the worker.",
        )

    def handle(self, *args, no_schedule, **options):
        summary = templates.sync_templates()
        for label in summary.created:
            self.stdout.write(f"  created {label}")
        for label in summary.updated:
            self.stdout.write(f"  updated {label}")
        for label in summary.vanished:
            self.stdout.write(f"  vanished {label} (kept, not offered for campaigns)")
        for problem in summary.problems:
            self.stderr.write(f"  {problem}")
        if not no_schedule:
            background.template_sync_keep_booked()
        if not summary.read:
            raise CommandError(summary.line())
        self.stdout.write(summary.line())
