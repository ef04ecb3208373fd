"""What a template's new WhatsApp status does, whoever learned it: a status callback
(`callbacks.effects.apply_template`) or the template sync (`services.templates`). One function,
so the two paths agree: the status is stored and, unless approved, the template's sending
campaigns stop, saying why.

It imports no task and no callback module, so the periodic sync task can reach it without an
import cycle (`callbacks.effects` imports `campaigns.tasks`)."""

from typing import NamedTuple

from django.utils import timezone

from campaigns.models import Campaign, MessageTemplate


class StatusChange(NamedTuple):
    templates: int  # templates whose status was set
    paused: int  # sending campaigns stopped


def stop_campaigns_using(template_ids, reason: str) -> int:
    """Pause every sending campaign whose template can no longer be sent, saying why."""
    return Campaign.objects.filter(template_id__in=template_ids).pause(reason)


def template_status_change(
    *, name: str, language: str = "", status: str, reason: str = "", now=None
) -> StatusChange | None:
    """Set the status of the template `name` (in `language`, or every language when empty);
    a status other than approved stops its sending campaigns. None: no such template."""
    templates = MessageTemplate.objects.filter(name=name)
    if language:
        templates = templates.filter(language=language)
    ids = list(templates.values_list("id", flat=True))
    if not ids:
        return None
    MessageTemplate.objects.filter(pk__in=ids).update(
        status=status, updated_at=now or timezone.now()
    )
    paused = 0
    if status != MessageTemplate.Status.APPROVED:
        label = f"{name} ({language})" if language else name
        text = f"Template {label} is now {status} in WhatsApp"
        text += f": {reason}." if reason else "."
        paused = stop_campaigns_using(ids, text + " Sending stopped.")
    return StatusChange(len(ids), paused)
