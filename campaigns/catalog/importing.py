"""A Meta catalog feed file imported in chunks through `ProductResource`: the admin's background
import, `manage.py import_catalog` and the periodic feed task all call `catalog_import`, and its
dry run counts exactly what the import then does.

A feed is the whole catalog (catalog-notes M6: scheduled feeds replace it), so products that are
not in it are marked inactive at the end, never deleted: campaigns keep their products, and a
product that comes back is active again."""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tablib
from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from campaigns import conf
from campaigns.catalog import feed
from campaigns.catalog.resources import ProductResource
from campaigns.models import Product
from campaigns.recipients.inputs import csv_header, csv_text

FIRST_ERRORS = 50  # row errors kept for the preview (all are counted)
MISSING_EXAMPLES = 10
DEACTIVATE_BATCH = 900  # primary keys per UPDATE (SQLite's variable limit, with room)
ACTIONS = ("new", "updated", "unchanged", "deactivated")


class FeedFileError(Exception):
    """The file cannot be imported at all (unreadable, a required column missing)."""


@dataclass
class CatalogReport:
    """What an import did (or, in a dry run, would do)."""

    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    deactivated: int = 0  # in the catalog, active, but not in this feed
    first_errors: list[str] = field(default_factory=list)
    missing_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def done_counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in (*ACTIONS, "errors")}

    def line(self) -> str:
        return (
            f"{self.rows} rows: {self.new} new, {self.updated} updated, {self.unchanged} "
            f"unchanged, {self.errors} with errors; {self.deactivated} products not in the feed "
            "marked inactive."
        )

    def add_error(self, problem: str):
        """One row (or one refused batch) that was not imported, and why."""
        self.errors += 1
        if len(self.first_errors) < FIRST_ERRORS:
            self.first_errors.append(problem)


class FeedFile:
    """A feed in Meta's CSV or TSV format (M1, M2): a header line naming the columns, then one
    product a line; UTF-8 with or without a byte order mark. Errors call the file `shown_as`."""

    def __init__(self, path: Path | str, *, storage: Storage | None = None, shown_as: str = ""):
        self.path, self.storage = path, storage
        self.shown_as = shown_as or str(path)
        self.delimiter, columns, has_rows = csv_header(
            path, storage=storage, shown_as=self.shown_as, error=FeedFileError, kind="CSV or TSV"
        )
        missing = [column for column in feed.REQUIRED_COLUMNS if column not in columns]
        if missing:
            raise FeedFileError(
                f"{self.shown_as} is not a Meta catalog feed: it needs the columns "
                f"{', '.join(feed.REQUIRED_COLUMNS)}; {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing. Its columns are: "
                f"{', '.join(c[:40] for c in columns[:20]) or 'none'}."
            )
        if not has_rows:
            raise FeedFileError(f"{self.shown_as} has only a header line: no products.")
        self.columns = columns

    @property
    def ignored_columns(self) -> list[str]:
        known = set(feed.COLUMNS.values())
        return [column for column in self.columns if column and column not in known]

    def chunks(self, size: int) -> Iterator[tuple[list[int], tablib.Dataset]]:
        """The rows, `size` at a time, as datasets with the line each row starts on; blank
        lines are left out and short or long rows fitted to the header."""
        width = len(self.columns)
        headers = [column or f"(unnamed {n})" for n, column in enumerate(self.columns, 1)]
        with csv_text(self.path, storage=self.storage) as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader, None)
            lines, rows, ended = [], [], reader.line_num
            try:
                for cells in reader:
                    starts, ended = ended + 1, reader.line_num
                    if not "".join(cells).strip():
                        continue
                    lines.append(starts)
                    rows.append((cells + [""] * width)[:width])
                    if len(rows) >= size:
                        yield lines, tablib.Dataset(*rows, headers=headers)
                        lines, rows = [], []
            except (UnicodeDecodeError, csv.Error) as exc:
                raise FeedFileError(
                    f"{self.shown_as}, line {reader.line_num}: cannot be read ({exc})."
                ) from exc
            if rows:
                yield lines, tablib.Dataset(*rows, headers=headers)


def catalog_import(
    feed_file: FeedFile,
    *,
    dry_run: bool,
    keep_missing: bool = False,
    after_line: int = 0,
    done: dict[str, int] | None = None,
    chunk_done: Callable[[CatalogReport, int], object] | None = None,
) -> CatalogReport:
    """Import the feed's valid rows (or, `dry_run`, only count what that would do), then mark
    the products missing from it inactive unless `keep_missing`.

    A run resumed after a killed worker passes the last line committed (`after_line`) and the
    counts up to it (`done`): earlier chunks are read again (for the duplicate-id check and the
    feed's ids) but not written. `chunk_done(report, last_line)` runs inside each chunk's
    transaction, so the progress written there is what the database holds."""
    report = CatalogReport()
    if feed_file.ignored_columns:
        report.notes.append(
            "Columns ignored (the app keeps only what a WhatsApp message shows): "
            + ", ".join(c[:40] for c in feed_file.ignored_columns[:20])
            + "."
        )
    for name in (*ACTIONS, "errors"):
        setattr(report, name, (done or {}).get(name, 0))
    resource = ProductResource()
    in_feed: set[str] = set()
    id_column = feed.COLUMNS["retailer_id"]
    for lines, dataset in feed_file.chunks(conf.MPM_IMPORT_CHUNK_ROWS):
        in_feed.update(str(value).strip() for value in dataset[id_column])
        report.rows += len(lines)
        resource.lines = lines
        if lines[-1] <= after_line:
            resource.remember_ids(dataset, lines)  # committed before: only its ids matter
            continue
        with transaction.atomic():
            result = resource.import_data(
                dataset, dry_run=dry_run, use_transactions=True, raise_errors=False
            )
            count_chunk(report, result, resource, dataset)
            if chunk_done:
                chunk_done(report, lines[-1])
    if not keep_missing:
        deactivate_missing(report, in_feed, dry_run=dry_run)
    return report


def count_chunk(report: CatalogReport, result, resource: ProductResource, dataset):
    """A chunk's result in the report; every problem named with its line and id."""
    totals = result.totals
    report.new += totals["new"]
    report.updated += totals["update"]
    report.unchanged += totals["skip"]
    ids = dataset[feed.COLUMNS["retailer_id"]]

    def where(number: int) -> str:
        shown = str(ids[number - 1]).strip()
        shown = f"{shown[:40]}…" if len(shown) > 40 else shown
        return f"Line {resource.line_of(number)}" + (f" (id '{shown}')" if shown else "")

    for invalid in result.invalid_rows:
        problems = [message for messages in invalid.error_dict.values() for message in messages]
        report.add_error(f"{where(invalid.number)}: {' '.join(problems)}")
    for number, errors in result.row_errors():
        report.add_error(f"{where(number)}: {' '.join(str(error.error) for error in errors)}")
    if result.base_errors:
        # The database refused a batch: the whole chunk was rolled back (bulk saves lose row
        # numbers), so none of its rows counts as imported.
        lost = totals["new"] + totals["update"]
        report.new -= totals["new"]
        report.updated -= totals["update"]
        error = result.base_errors[0].error
        report.add_error(
            f"Lines {resource.lines[0]}-{resource.lines[-1]}: {lost} rows not saved, the "
            f"database refused them: {error}"
        )
        report.errors += max(lost - 1, 0)


def deactivate_missing(report: CatalogReport, in_feed: set[str], *, dry_run: bool):
    """Active products that are not in the feed become inactive (counted only, in a dry run)."""
    missing = [
        (pk, retailer_id)
        for pk, retailer_id in Product.objects.filter(active=True).values_list("pk", "retailer_id")
        if retailer_id not in in_feed
    ]
    report.deactivated += len(missing)
    report.missing_examples = [retailer_id for _, retailer_id in missing[:MISSING_EXAMPLES]]
    if dry_run:
        return
    now = timezone.now()
    for start in range(0, len(missing), DEACTIVATE_BATCH):
        pks = [pk for pk, _ in missing[start : start + DEACTIVATE_BATCH]]
        Product.objects.filter(pk__in=pks).update(active=False, updated_at=now)
