"""Recompute campaigns' counters (funnel, failures, skip reasons, timeline, orders) from their
messages, events and orders: after a restore, a hand-made SQL change, or to check them."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campaigns.models import Campaign
from campaigns.services.tallies import tallies_compact, tallies_rebuild


class Command(BaseCommand):
    help = "Recompute the counters of one campaign (ID) or of every campaign, with progress."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", nargs="?", type=int, help="only this campaign")

    def handle(self, *args, campaign_id=None, **options):
        ids = list(Campaign.objects.order_by("pk").values_list("pk", flat=True))
        if campaign_id is not None:
            if campaign_id not in ids:
                raise CommandError(f"There is no campaign with ID {campaign_id}.")
            ids = [campaign_id]
        with tqdm(total=len(ids), unit="campaign", disable=options["verbosity"] < 1) as bar:
            done = tallies_rebuild(ids, progress=lambda _: bar.update(1))
        tallies_compact()  # what other campaigns' writers left meanwhile
        self.stdout.write(f"Counters rebuilt for {done} campaign(s).")
