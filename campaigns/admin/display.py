"""HTML the admin pages share: problems in plain words, JSON and provider codes explained."""

import json

from django.utils.html import format_html, format_html_join

from campaigns import validation
from campaigns.kaleyra.answers import explain

PROBLEM_LABELS = {validation.ERROR: "Must fix:", validation.WARNING: "Warning:"}


def problems_html(problems: list[validation.Problem]):
    """Problems as an HTML list, errors told apart from warnings."""
    if not problems:
        return "No problems: ready to send."
    return format_html(
        '<ul class="mpm-problems">{}</ul>',
        format_html_join(
            "",
            '<li class="{}"><strong>{}</strong> {}</li>',
            ((p.level, PROBLEM_LABELS[p.level], p.message) for p in problems),
        ),
    )


def not_sendable_text(refusal) -> str:
    """A `CampaignNotSendable` as one line for the admin's messages."""
    return " ".join([refusal.headline, *(p.message for p in refusal.problems)]).strip()


def pre(text: str):
    return format_html('<pre class="mpm-json">{}</pre>', text)


def pretty_json(value):
    return pre(json.dumps(value, ensure_ascii=False, indent=2))


def pretty_json_text(text: str):
    """A stored body: indented when it is JSON, as it came when it is not."""
    try:
        return pretty_json(json.loads(text))
    except ValueError:
        return pre(text)


def explanation_html(code: str, http_status: int | None = None):
    explanation = explain(code, http_status)
    if explanation is None:
        return "Nothing yet: Kaleyra has not answered for this message."
    return format_html("{}<br><strong>{}</strong>", explanation.meaning, explanation.action)
