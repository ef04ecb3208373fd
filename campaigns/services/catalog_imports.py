"""Catalog feed imports as the admin runs them (`services.file_imports`): the file checked with
a dry run, confirmed, then imported in the background with progress; and a feed file or address
imported at once, by the command and the periodic task."""

import tempfile
from pathlib import Path

from campaigns.catalog.fetching import fetch_feed, is_address
from campaigns.catalog.importing import CatalogReport, FeedFile, FeedFileError, catalog_import
from campaigns.models import CatalogImport
from campaigns.services.campaigns import campaigns_recheck
from campaigns.services.file_imports import FileImportKind


def feed_of(catalog_import: CatalogImport) -> FeedFile:
    return FeedFile(
        catalog_import.file.name,
        storage=catalog_import.file.storage,
        shown_as=catalog_import.original_name,
    )


def imported(feed_file: FeedFile, job: CatalogImport, *, dry_run: bool, **steps):
    report = catalog_import(feed_file, keep_missing=job.keep_missing, dry_run=dry_run, **steps)
    if not dry_run:
        campaigns_recheck()
    return report


CATALOG_IMPORTS = FileImportKind(
    model=CatalogImport, file_error=FeedFileError, opened=feed_of, imported=imported
)


def catalog_import_source(
    source: str, *, dry_run: bool = False, keep_missing: bool = False, chunk_done=None
) -> CatalogReport:
    """Import a feed file on this machine or at an http(s) address (fetched first), in the
    foreground: `manage.py import_catalog` and the periodic feed task."""
    with tempfile.TemporaryDirectory(prefix="mpm-feed-") as workdir:
        if is_address(source):
            path = Path(workdir) / "feed.csv"
            fetch_feed(source, path)
        else:
            path = Path(source)
        report = catalog_import(
            FeedFile(path, shown_as=source),
            dry_run=dry_run,
            keep_missing=keep_missing,
            chunk_done=chunk_done,
        )
    if not dry_run:
        campaigns_recheck()
    return report
