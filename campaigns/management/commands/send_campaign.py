"""Send a campaign to numbers given on the command line or in a CSV file.

Exit status: 0 all accepted, 1 some failed (or their outcome is unknown, or `--valid-only` left
invalid lines out), 2 bad arguments or invalid input (then nothing is sent).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campaigns import recipients as recipient_lists
from campaigns import services
from campaigns.models import Campaign
from campaigns.selectors import campaign_for_sending
from campaigns.services import background

MAX_LISTED_PROBLEMS = 50


STILL_WAITING = 3  # exit status: nothing failed, but some messages wait for a retry


def invalid_input(message: str) -> CommandError:
    return CommandError(message, returncode=2)


def left_out(invalid: int, *, the_rest: str = "were sent") -> str:
    return f"{invalid} invalid line(s) were left out (listed above); the rest {the_rest}."


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
            help="CSV (comma, semicolon or tab) with phone and optional header, body_1…body_n, ref, "
            "ref1, ref2 columns; other columns are ignored.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check everything and print the payloads; send nothing.",
        )
        parser.add_argument(
            "--valid-only",
            action="store_true",
            help="Send to the valid recipients and list the invalid lines (without it, one "
            "invalid line sends nothing); exits 1 when lines were left out.",
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
            help="Messages per second for this send (default: its sender's rate, else "
            "KALEYRA_RATE_PER_SECOND; 0: no limit).",
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
        self,
        *args,
        campaign_id,
        to,
        recipients,
        dry_run,
        resume,
        resend_unknown,
        valid_only,
        **options,
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
            campaign = campaign_for_sending(campaign_id)
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
            inputs = recipient_lists.recipients_from_numbers(to)
        elif recipients is not None:
            try:
                inputs = recipient_lists.CsvRecipients(recipients)
            except recipient_lists.RecipientFileError as exc:
                raise invalid_input(str(exc)) from None
            if inputs.ignored_note:
                self.stderr.write(inputs.ignored_note)
        if dry_run:
            return self.dry_run(campaign, inputs or [], valid_only=valid_only)
        if campaign.state == Campaign.State.PAUSED and not resume:
            raise invalid_input(
                f"The campaign is paused ({campaign.paused_reason or 'by an operator'}): nothing "
                "was queued. Run again with --resume once the cause is fixed."
            )
        report = recipient_lists.QueueReport()
        if inputs is not None:
            try:
                services.campaign_queueable(campaign)
            except services.CampaignNotRunnable as exc:
                raise invalid_input(str(exc)) from None
            try:
                report = recipient_lists.campaign_queue_recipients(
                    campaign, inputs, resend_unknown=resend_unknown, valid_only=valid_only
                )
            except recipient_lists.RecipientFileError as exc:
                raise invalid_input(str(exc)) from None
            self.explain_report(report)
            if report.refused:
                raise invalid_input(
                    f"{report.invalid_count} invalid recipient(s); nothing was sent "
                    "(--valid-only sends to the valid ones)."
                )
            if report.invalid_count and not report.queued:
                raise invalid_input("No valid recipient to send to; nothing was sent.")
        run_options = services.run_options(
            rate=options["rate"],
            concurrency=options["concurrency"],
            wait_for_retries=not options["no_wait"],
        )
        try:
            summary = self.send(campaign, run_options, resume=resume)
        except services.CampaignNotRunnable as exc:
            raise invalid_input(str(exc)) from None
        summary.skipped += report.skipped_count
        self.stdout.write(summary.line())
        campaign.refresh_from_db(fields=["state", "paused_reason"])
        if campaign.state == Campaign.State.PAUSED:  # by an answer, or by an operator meanwhile
            reason = summary.paused_reason or campaign.paused_reason or "Paused by an operator."
            raise CommandError(
                f"The campaign is paused: {reason} Fix the cause, then run again with --resume.",
                returncode=1,
            )
        if campaign.state == Campaign.State.CANCELLED:
            raise CommandError(
                "The campaign was cancelled during the send: what was not sent is skipped.",
                returncode=1,
            )
        if summary.failed or summary.unknown:
            raise CommandError(
                "Some messages were not accepted: "
                + ", ".join(f"{c}: {n}" for c, n in summary.codes.items()),
                returncode=1,
            )
        if report.invalid_count:
            raise CommandError(left_out(report.invalid_count), returncode=1)
        if summary.waiting:
            background.campaign_watch(campaign)  # a worker continues it when they are due
            raise CommandError(
                f"{summary.waiting} message(s) are waiting for a retry ({summary.waiting_line()}). "
                "A worker sends them when they are due, or run again with --resume then.",
                returncode=STILL_WAITING,
            )

    def send(self, campaign, run_options, *, resume):
        with tqdm(desc="Sending", unit="msg", file=self.stderr, dynamic_ncols=True) as bar:

            def progress(summary):
                bar.total = summary.total
                bar.n = summary.done + summary.retrying
                postfix = {
                    "accepted": summary.accepted,
                    "failed": summary.failed,
                    "rate limit": f"{summary.rate_limit:g}/s" if summary.rate_limit else "no limit",
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

    def explain_report(self, report: recipient_lists.QueueReport):
        for line, value, reason in report.invalid[:MAX_LISTED_PROBLEMS]:
            self.stderr.write(f"line {line}: {value!r}: {reason}")
        if report.invalid_count > MAX_LISTED_PROBLEMS:
            self.stderr.write(
                f"… and {report.invalid_count - MAX_LISTED_PROBLEMS} more invalid lines."
            )
        for warning in report.warnings[:MAX_LISTED_PROBLEMS]:
            self.stderr.write(f"warning: {warning}")
        if report.duplicate_count:
            self.stderr.write(
                f"Removed {report.duplicate_count} duplicate number(s): {', '.join(report.duplicates[:10])}"
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

    def dry_run(self, campaign, inputs, *, valid_only):
        """Check everything and print each request body; nothing is written or sent."""
        try:
            result = services.campaign_dry_run(campaign, inputs)
        except recipient_lists.RecipientFileError as exc:
            raise invalid_input(str(exc)) from None
        self.explain_report(result.report)
        if result.report.invalid_count and not (valid_only and result.bodies):
            raise invalid_input(f"{result.report.invalid_count} invalid recipient(s).")
        for body in result.bodies:
            self.stdout.write(body)
        self.stdout.write(
            f"Dry run: {len(result.bodies)} request(s) would be sent; nothing was sent."
        )
        if result.report.invalid_count:
            raise CommandError(
                left_out(result.report.invalid_count, the_rest="would be sent"), returncode=1
            )
