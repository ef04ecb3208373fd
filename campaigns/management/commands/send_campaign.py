"""Send a campaign to numbers given on the command line or in a CSV file.

Exit status: 0 all accepted, 1 some failed (or their outcome is unknown), 2 bad arguments or
invalid input (then nothing is sent).
"""

import csv
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campaigns import services
from campaigns.limits import REF_FIELDS
from campaigns.models import Campaign
from campaigns.payload import build_request, pretty

BODY_COLUMN = re.compile(r"^body_[1-9]\d*$")
MAX_LISTED_PROBLEMS = 50


def invalid_input(message: str) -> CommandError:
    return CommandError(message, returncode=2)


def read_csv(path: Path):
    """Recipients from a CSV with a `phone` column and optional header, body_N and ref columns."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise invalid_input(f"Cannot read {path}: {exc.strerror}.") from exc
    with handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "phone" not in columns:
            raise invalid_input(
                f"{path} needs a 'phone' column; its columns are: {', '.join(columns) or 'none'}."
            )
        unknown = [
            c
            for c in columns
            if c not in ("phone", "header", *REF_FIELDS) and not BODY_COLUMN.match(c)
        ]
        if unknown:
            raise invalid_input(
                f"{path} has columns this command does not know: {', '.join(unknown)}. "
                "Use phone, header, body_1 … body_n, ref, ref1, ref2."
            )
        reader.fieldnames = columns
        try:
            for row in reader:
                phone = (row.pop("phone") or "").strip()
                overrides = {k: (v or "").strip() for k, v in row.items() if k is not None}
                yield services.RecipientInput(phone, overrides, line=reader.line_num)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise invalid_input(f"{path}, line {reader.line_num}: {exc}.") from exc


class Command(BaseCommand):
    help = "Send a campaign's MPM to each recipient (one request per recipient)."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--to", help='Numbers in E.164, comma separated: "+9198…,+4477…".')
        source.add_argument(
            "--recipients",
            type=Path,
            metavar="FILE.csv",
            help="CSV with phone and optional header, body_1…body_n, ref, ref1, ref2 columns.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check everything and print the payloads; send nothing.",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Continue a paused or interrupted campaign (recipients are optional then).",
        )
        parser.add_argument(
            "--resend-unknown",
            action="store_true",
            help="Also resend messages whose earlier outcome is unknown (they may have arrived).",
        )
        parser.add_argument(
            "--rate",
            type=float,
            help="Messages per second for this sender (default KALEYRA_RATE_PER_SECOND; 0: no limit).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            help="Requests in flight at once (default MPM_SEND_CONCURRENCY).",
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Do not wait for scheduled retries (e.g. WA500); --resume sends them later.",
        )

    def handle(
        self, *args, campaign_id, to, recipients, dry_run, resume, resend_unknown, **options
    ):
        if to is None and recipients is None and not resume:
            raise invalid_input(
                "Give recipients with --to or --recipients, or continue with --resume."
            )
        if options["rate"] is not None and options["rate"] < 0:
            raise invalid_input("--rate must be 0 (no limit) or more.")
        if options["concurrency"] is not None and options["concurrency"] < 1:
            raise invalid_input("--concurrency must be at least 1.")
        try:
            campaign = services.campaign_for_sending(campaign_id)
        except Campaign.DoesNotExist:
            raise invalid_input(f"There is no campaign with id {campaign_id}.") from None
        problems = services.campaign_check(campaign)
        errors = [p for p in problems if p.level == "error"]
        for problem in problems:
            self.stderr.write(f"{problem.level}: {problem}")
        if errors:
            raise invalid_input(
                f"Campaign “{campaign}” cannot be sent: {len(errors)} problem(s) above."
            )

        inputs = None
        if to is not None:
            inputs = services.recipients_from_numbers(to)
        elif recipients is not None:
            inputs = read_csv(recipients)
        if dry_run:
            return self.dry_run(campaign, inputs or [])
        report = services.QueueReport()
        if inputs is not None:
            report = services.campaign_queue_recipients(
                campaign, inputs, resend_unknown=resend_unknown
            )
            self.explain_report(report)
            if report.invalid:
                raise invalid_input(
                    f"{len(report.invalid)} invalid recipient(s); nothing was sent."
                )
        run_options = services.run_options(
            rate=options["rate"],
            concurrency=options["concurrency"],
            wait_for_retries=not options["no_wait"],
        )
        try:
            summary = self.send(campaign, run_options, resume=resume)
        except services.CampaignNotRunnable as exc:
            raise invalid_input(str(exc)) from None
        summary.skipped = report.skipped_count
        self.stdout.write(summary.line())
        if summary.paused_reason:
            raise CommandError(
                f"The campaign is paused: {summary.paused_reason} Fix the cause, then run again "
                "with --resume.",
                returncode=1,
            )
        if summary.failed or summary.unknown:
            raise CommandError(
                "Some messages were not accepted: "
                + ", ".join(f"{c}: {n}" for c, n in summary.codes.items()),
                returncode=1,
            )

    def send(self, campaign, run_options, *, resume):
        rate = f"{run_options.rate:g}/s" if run_options.rate else "no limit"
        with tqdm(desc="Sending", unit="msg", file=self.stderr, dynamic_ncols=True) as bar:

            def progress(summary):
                bar.total = summary.total
                bar.n = summary.done + summary.retrying
                postfix = {
                    "accepted": summary.accepted,
                    "failed": summary.failed,
                    "rate limit": rate,
                }
                if summary.unknown:
                    postfix["unknown"] = summary.unknown
                if summary.waiting_until:
                    postfix["retry at"] = summary.waiting_until
                bar.set_postfix(postfix, refresh=False)
                bar.refresh()

            return services.campaign_send(
                campaign, resume=resume, options=run_options, progress=progress
            )

    def explain_report(self, report: services.QueueReport):
        for line, value, reason in report.invalid[:MAX_LISTED_PROBLEMS]:
            self.stderr.write(f"line {line}: {value!r}: {reason}")
        if len(report.invalid) > MAX_LISTED_PROBLEMS:
            self.stderr.write(
                f"… and {len(report.invalid) - MAX_LISTED_PROBLEMS} more invalid lines."
            )
        for warning in report.warnings[:MAX_LISTED_PROBLEMS]:
            self.stderr.write(f"warning: {warning}")
        if report.duplicates:
            self.stderr.write(
                f"Removed {len(report.duplicates)} duplicate number(s): {', '.join(report.duplicates[:10])}"
            )
        for number, reason in report.skipped[:MAX_LISTED_PROBLEMS]:
            self.stderr.write(f"skipped {number}: {reason}")
        if report.already_accepted:
            self.stderr.write(
                f"Skipped {report.already_accepted} recipient(s) already accepted earlier."
            )
        if report.unknown_kept:
            self.stderr.write(
                f"Kept {report.unknown_kept} recipient(s) whose earlier outcome is unknown; "
                "use --resend-unknown to send them again."
            )

    def dry_run(self, campaign, inputs):
        report, wanted = services.campaign_check_recipients(campaign, inputs)
        self.explain_report(report)
        if report.invalid:
            raise invalid_input(f"{len(report.invalid)} invalid recipient(s).")
        content = services.campaign_content(campaign)
        sendable = 0
        for number, overrides in wanted.items():
            reason = services.skip_reason(campaign, number)
            if reason:
                self.stderr.write(f"would skip {number}: {reason}")
                continue
            sendable += 1
            self.stdout.write(pretty(build_request(content, number, overrides)))
        note = (
            " (ref will carry each message's own id)" if not content.extra_info.get("ref") else ""
        )
        self.stdout.write(f"Dry run: {sendable} request(s) would be sent{note}; nothing was sent.")
