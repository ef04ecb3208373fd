"""Import a Meta catalog feed (CSV or TSV) from a file or an http(s) address, with the rules of
the admin's import: every row checked, errors by line, products missing from the feed marked
inactive (never deleted) unless --keep-missing.

    manage.py import_catalog feed.csv --dry-run
    manage.py import_catalog https://shop.example/feed.tsv
    manage.py import_catalog https://shop.example/feed.tsv --every 6   # on the workers, every 6 h

Exit status: 0 when every row was imported, 1 when some rows had errors (the others were
imported), 2 when the file or address could not be read at all (nothing imported).
"""

from django.core.management.base import BaseCommand, CommandError

from campaigns.catalog.importing import FeedFileError
from campaigns.services.background import catalog_feed_schedule
from campaigns.services.catalog_imports import catalog_import_source


class Command(BaseCommand):
    help = "Import a Meta catalog feed (CSV or TSV) from a file or an http(s) address."

    def add_arguments(self, parser):
        parser.add_argument("source", help="A feed file, or its http(s) address.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and count; write nothing."
        )
        parser.add_argument(
            "--keep-missing",
            action="store_true",
            help="Leave products that are not in the feed as they are (default: inactive).",
        )
        parser.add_argument(
            "--every",
            type=float,
            metavar="HOURS",
            help="Book the import on the background workers, then again every HOURS (at least "
            "1: Meta reads scheduled feeds at most hourly).",
        )

    def handle(self, *args, source, dry_run, keep_missing, every, **options):
        if every is not None:
            if every < 1 or dry_run:
                raise CommandError("--every takes 1 hour or more, without --dry-run.", returncode=2)
            self.stdout.write(catalog_feed_schedule(source, keep_missing=keep_missing, hours=every))
            return

        def progress(report, line):
            self.stderr.write(f"  … line {line:,}: {report.new:,} new, {report.updated:,} updated")

        try:
            report = catalog_import_source(
                source, dry_run=dry_run, keep_missing=keep_missing, chunk_done=progress
            )
        except FeedFileError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for note in report.notes:
            self.stdout.write(note)
        for problem in report.first_errors:
            self.stdout.write(f"  {problem}")
        if report.errors > len(report.first_errors):
            self.stdout.write(f"  … {report.errors - len(report.first_errors):,} more.")
        self.stdout.write(
            ("Dry run, nothing written: " if dry_run else "Imported: ") + report.line()
        )
        if report.errors:
            raise CommandError(
                f"{report.errors:,} row(s) had errors and were left out; the others were "
                + ("checked." if dry_run else "imported."),
                returncode=1,
            )
