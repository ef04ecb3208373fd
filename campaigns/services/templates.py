"""Template sync: Kaleyra's template list → our MessageTemplates, by (name, language).

The list is read first (every page, no transaction open), then written in one transaction:
new templates created, changed ones updated, the JSON as received kept in `raw`. A status the
list changes has the effect a template status callback has (`template_status_change`: a paused,
disabled or rejected template stops its sending campaigns). A template missing from a list read
completely is marked vanished (`vanished_at`), never deleted, and its sending campaigns stop; one
that comes back is offered again. The command, the periodic task and the admin's button all call
`sync_templates`.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import Task

from campaigns import conf
from campaigns.kaleyra import KaleyraConfig
from campaigns.kaleyra.config import config_for, settings_account
from campaigns.kaleyra.templates import TemplateListing, fetch_templates
from campaigns.models import MessageTemplate, Sender
from campaigns.services.healing import tasks_of
from campaigns.services.senders import sender_account
from campaigns.services.template_parsing import LANGUAGE_CODE, ParsedTemplate, parse_template
from campaigns.services.template_status import stop_campaigns_using, template_status_change

SANDBOX_WABA_ID = "SANDBOXWABA"  # the sandbox lists its templates under any WABA id
# Compared to decide whether a template changed; `status` is applied on its own (see above).
SYNCED_FIELDS = (
    "category",
    "header_text",
    "body_text",
    "footer_text",
    "button_index",
    "button_text",
    "has_mpm_button",
    "provider_id",
    "raw",
)


@dataclass
class SyncSummary:
    """What a sync did; `read` is False when the list could not be read completely (then
    nothing was marked vanished, and the command exits non-zero)."""

    read: bool = False
    pages: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    vanished: list[str] = field(default_factory=list)
    reappeared: list[str] = field(default_factory=list)
    campaigns_stopped: int = 0
    unknown_statuses: dict[str, str] = field(default_factory=dict)  # template → status given
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        counts = (
            f"{len(self.created)} created, {len(self.updated)} updated, {self.unchanged} "
            f"unchanged, {len(self.vanished)} vanished"
        )
        extra = []
        if self.reappeared:
            extra.append(f"{len(self.reappeared)} back in the list")
        if self.campaigns_stopped:
            extra.append(f"{self.campaigns_stopped} sending campaign(s) stopped")
        if self.unknown_statuses:
            named = ", ".join(f"{t}: {s!r}" for t, s in sorted(self.unknown_statuses.items()))
            extra.append(f"unknown status for {named}")
        if self.problems:
            extra.append(f"{len(self.problems)} problem(s)")
        tail = f" ({'; '.join(extra)})" if extra else ""
        if not self.read:
            return f"Kaleyra's template list could not be read completely: {counts}{tail}."
        return f"Templates synced from Kaleyra ({self.pages} page(s)): {counts}{tail}."


@dataclass(frozen=True)
class TemplateSource:
    """One WhatsApp Business Account whose template list is read, as the account sends."""

    config: KaleyraConfig
    waba_id: str
    label: str  # who, for the summary's problems


def template_sync_sources() -> list[TemplateSource]:
    """Every account the app sends from: each active sender's (its WABA id, else
    KALEYRA_WABA_ID), once per SID and WABA id; without senders, the settings' (the sandbox's
    in sandbox mode). ImproperlyConfigured names what is missing."""
    accounts = [(sender_account(s), s.waba_id) for s in Sender.objects.active()] or [
        (settings_account(), "")
    ]
    sources, seen = [], set()
    for account, own_waba in accounts:
        config = config_for(account)
        waba_id = (own_waba or conf.KALEYRA_WABA_ID).strip()
        if conf.KALEYRA_SANDBOX:
            waba_id = waba_id or SANDBOX_WABA_ID
        if (config.base_url, config.sid, waba_id) in seen:
            continue
        seen.add((config.base_url, config.sid, waba_id))
        label = account.display_name or "the KALEYRA_* settings"
        sources.append(TemplateSource(config, waba_id, label))
    return sources


def templates_of_accounts(sources: list[TemplateSource]) -> TemplateListing:
    """The lists of several accounts as one: complete only when each was read to its end; a
    template (name and language) two accounts have is one template here, its first entry kept."""
    merged = TemplateListing(complete=True)
    seen = set()
    for source in sources:
        listing = fetch_templates(source.config, source.waba_id)
        merged.complete = merged.complete and listing.complete
        merged.pages += listing.pages
        prefix = f"{source.label}: " if len(sources) > 1 else ""
        merged.problems.extend(prefix + problem for problem in listing.problems)
        for entry in listing.templates:
            key = (entry.get("name"), entry.get("language")) if isinstance(entry, dict) else None
            if key is not None and key in seen and len(sources) > 1:
                continue
            seen.add(key)
            merged.templates.append(entry)
    return merged


def sync_templates(*, now=None) -> SyncSummary:
    """Read the template lists of the accounts the app sends from and bring our
    MessageTemplates in line with them."""
    summary = SyncSummary()
    try:
        sources = template_sync_sources()
    except ImproperlyConfigured as exc:
        summary.problems.append(str(exc))
        return summary
    listing = templates_of_accounts(sources)
    return templates_apply(listing, now=now or timezone.now(), summary=summary)


def templates_apply(listing: TemplateListing, *, now, summary: SyncSummary) -> SyncSummary:
    """Write what the list said (the entries of the pages read, even when a later page failed)."""
    summary.read, summary.pages = listing.complete, listing.pages
    summary.problems.extend(listing.problems)
    parsed, listed = _parse_entries(listing.templates, summary)
    with transaction.atomic():
        existing = {
            (t.name, t.language): t
            for t in MessageTemplate.objects.filter(name__in={p.name for p in parsed})
        }
        for entry in parsed:
            _apply_one(entry, existing.get((entry.name, entry.language)), now, summary)
        if listing.complete and not listed.all_named:
            summary.problems.append(
                "Some entries of the list had no name, so no template was marked vanished."
            )
        elif listing.complete:
            _mark_vanished(listed, now, summary)
        elif MessageTemplate.objects.exists():
            summary.problems.append(
                "The list was not read to its end, so no template was marked vanished."
            )
    return summary


@dataclass
class Listed:
    """What the list named, stored or not: (name, language) pairs; names whose language could
    not be read (any template of that name may be the one); whether every entry had a name."""

    keys: set = field(default_factory=set)
    names: set = field(default_factory=set)
    all_named: bool = True

    def includes(self, template: MessageTemplate) -> bool:
        return (template.name, template.language) in self.keys or template.name in self.names


def _parse_entries(entries: list, summary: SyncSummary) -> tuple[list[ParsedTemplate], Listed]:
    """Parsed entries to store, one per (name, language), and what the list named."""
    kept, listed = [], Listed()
    for entry in entries:
        parsed = parse_template(entry)
        summary.problems.extend(parsed.problems)
        if parsed.unknown_status:
            summary.unknown_statuses[parsed.label] = parsed.unknown_status
        if parsed.fields is None:
            # A template we could name is still in the list: it must not count as vanished.
            if not parsed.name:
                listed.all_named = False
            elif LANGUAGE_CODE.match(parsed.language):
                listed.keys.add((parsed.name, parsed.language))
            else:
                listed.names.add(parsed.name)
            continue
        key = (parsed.name, parsed.language)
        if key in listed.keys:
            summary.problems.append(
                f"Template {parsed.label} is listed more than once; the first entry was used."
            )
            continue
        listed.keys.add(key)
        kept.append(parsed)
    return kept, listed


def _apply_one(parsed: ParsedTemplate, template, now, summary: SyncSummary):
    fields = parsed.fields
    status = fields["status"]
    if template is None:
        MessageTemplate.objects.create(
            **{k: fields[k] for k in ("name", "language", "status", *SYNCED_FIELDS) if k in fields},
            synced_at=now,
        )
        summary.created.append(parsed.label)
        return
    changed = {
        k: fields[k] for k in SYNCED_FIELDS if k in fields and getattr(template, k) != fields[k]
    }
    if template.vanished_at is not None:
        changed["vanished_at"] = None
        summary.reappeared.append(parsed.label)
    MessageTemplate.objects.filter(pk=template.pk).update(
        **changed, synced_at=now, **({"updated_at": now} if changed else {})
    )
    if status != template.status:
        change = template_status_change(
            name=parsed.name,
            language=parsed.language,
            status=status,
            reason=parsed.reason,
            now=now,
        )
        summary.campaigns_stopped += change.paused if change else 0
    if changed or status != template.status:
        summary.updated.append(parsed.label)
    else:
        summary.unchanged += 1


def _mark_vanished(listed: Listed, now, summary: SyncSummary):
    """Templates not in a complete list: kept (campaigns may use them), marked, not offered."""
    present = MessageTemplate.objects.filter(vanished_at__isnull=True)
    gone = [t for t in present.only("id", "name", "language") if not listed.includes(t)]
    if not gone:
        return
    if not listed.keys and not listed.names:
        summary.problems.append(
            "Kaleyra's template list is empty, so no template was marked vanished "
            "(check KALEYRA_WABA_ID)."
        )
        return
    MessageTemplate.objects.filter(pk__in=[t.pk for t in gone]).update(
        vanished_at=now, updated_at=now
    )
    for template in gone:
        summary.vanished.append(str(template))
        summary.campaigns_stopped += stop_campaigns_using(
            [template.pk],
            f"Template {template} is no longer in Kaleyra's template list (deleted in WhatsApp?). "
            "Sending stopped.",
        )


def template_sync_schedule(task: Task, *, now=None):
    """Book the next periodic sync MPM_TEMPLATE_SYNC_INTERVAL from now, unless one is booked
    already, the interval is 0, or the backend cannot defer a task."""
    interval = conf.MPM_TEMPLATE_SYNC_INTERVAL
    if not interval or not task.get_backend().supports_defer:
        return
    if tasks_of(task).filter(status=TaskResultStatus.READY).exists():
        return
    when = (now or timezone.now()) + timedelta(seconds=interval)
    task.using(run_after=when).enqueue()
