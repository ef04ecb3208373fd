"""One entry of Kaleyra's template list (Meta's shape: `id, name, language, status, category,
components[]`) → the fields of a `MessageTemplate`, and what was odd about it in plain words.

Pure: no database, no network, and it never raises, whatever the entry holds (a property test
feeds it arbitrary JSON). An entry that cannot be stored (no usable name or language, a text over
Meta's limit) comes back without fields; one that can, with its problems beside it.
"""

import re
from dataclasses import dataclass, field

from campaigns import limits
from campaigns.models import MessageTemplate
from campaigns.models.catalog import provider_template_status

Status = MessageTemplate.Status

CATEGORIES = {choice.value for choice in MessageTemplate.Category}
LANGUAGE_CODE = re.compile(limits.LANGUAGE_CODE_PATTERN)
MPM_BUTTON = "mpm"
PROVIDER_ID_LENGTH = MessageTemplate._meta.get_field("provider_id").max_length
BUTTON_TEXT_LENGTH = MessageTemplate._meta.get_field("button_text").max_length
TEXT_LIMITS = {
    "header_text": limits.MAX_HEADER_TEXT_LENGTH,
    "body_text": limits.MAX_BODY_TEXT_LENGTH,
    "footer_text": limits.MAX_FOOTER_TEXT_LENGTH,
}


@dataclass
class ParsedTemplate:
    """`fields` for `MessageTemplate` (None: the entry cannot be stored), `problems` naming the
    template and the field, and `unknown_status`: a status we have no meaning for."""

    name: str = ""
    language: str = ""
    fields: dict | None = None
    problems: list[str] = field(default_factory=list)
    unknown_status: str = ""
    reason: str = ""  # Meta's rejected_reason, said when the status stops campaigns

    @property
    def label(self) -> str:
        if self.name and self.language:
            return f"{self.name} ({self.language})"
        return self.name or "a template without a name"


def _text(value) -> str:
    """A string as text (PostgreSQL refuses NUL characters in text); anything else: ""."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def parse_status(value) -> tuple[str, str]:
    """(our status, "") or, for a status with no meaning here (`provider_template_status`),
    (pending: not sendable, the status as given, which the sync's report names)."""
    mapped = provider_template_status(value)
    if mapped:
        return mapped, ""
    raw = value if isinstance(value, str) else ""
    return Status.PENDING, (raw.strip()[:40] or repr(value)[:40])


def parse_template(entry) -> ParsedTemplate:
    """One template entry → its fields and problems; never raises."""
    parsed = ParsedTemplate()
    if not isinstance(entry, dict):
        parsed.problems.append(
            f"An entry of Kaleyra's template list is not a template object "
            f"({type(entry).__name__}); skipped."
        )
        return parsed
    name, language = _text(entry.get("name")), _text(entry.get("language"))
    parsed.name, parsed.language = name[:80], language[:20]
    if not name:
        parsed.problems.append("A template in Kaleyra's list has no name; skipped.")
        return parsed
    if len(name) > limits.MAX_TEMPLATE_NAME_LENGTH:
        parsed.problems.append(
            f"Template {parsed.name}…: its name is {len(name)} characters, over WhatsApp's "
            f"{limits.MAX_TEMPLATE_NAME_LENGTH}; skipped."
        )
        return parsed
    if not LANGUAGE_CODE.match(language):
        parsed.problems.append(
            f"Template {name}: language {entry.get('language')!r:.40} is not a code like en, "
            "en_US or pt_BR; skipped."
        )
        return parsed
    label = parsed.label
    problems = parsed.problems

    status, unknown = parse_status(entry.get("status"))
    if unknown:
        parsed.unknown_status = unknown
        problems.append(
            f"Template {label}: status {unknown!r} is not one we know; kept as pending "
            "(not sendable)."
        )
    fields = {"name": name, "language": language, "status": status, "raw": entry}

    category = _text(entry.get("category")).upper()
    if category in CATEGORIES:
        fields["category"] = category
    else:
        problems.append(
            f"Template {label}: category {entry.get('category')!r:.40} is not MARKETING, UTILITY "
            "or AUTHENTICATION; the category was left as it was."
        )

    provider_id = entry.get("id")
    if isinstance(provider_id, int) and not isinstance(provider_id, bool):
        provider_id = str(provider_id)
    fields["provider_id"] = provider_id[:PROVIDER_ID_LENGTH] if isinstance(provider_id, str) else ""
    reason = entry.get("rejected_reason")
    parsed.reason = _text(reason)[:200] if _text(reason).upper() != "NONE" else ""

    texts = _component_texts(entry.get("components"), label, problems)
    for name_of_field, limit in TEXT_LIMITS.items():
        text = texts.get(name_of_field, "")
        if len(text) > limit:
            problems.append(
                f"Template {label}: {name_of_field.replace('_', ' ')} is {len(text)} characters, "
                f"over WhatsApp's {limit}; skipped."
            )
            return parsed
        fields[name_of_field] = text
    if not fields["body_text"]:
        problems.append(f"Template {label}: no BODY text found.")
    fields.update(_mpm_button(texts.get("buttons"), label, problems))
    parsed.fields = fields
    return parsed


def _component_texts(components, label: str, problems: list[str]) -> dict:
    """HEADER (text format only), BODY and FOOTER texts, and the BUTTONS list."""
    found: dict = {}
    if not isinstance(components, list):
        problems.append(f"Template {label}: components is not a list.")
        return found
    for component in components:
        if not isinstance(component, dict):
            problems.append(f"Template {label}: a component is not an object; ignored.")
            continue
        kind = _text(component.get("type")).upper()
        if kind == "HEADER":
            header_format = _text(component.get("format")).upper() or "TEXT"
            if header_format == "TEXT":
                found["header_text"] = _text(component.get("text"))
        elif kind in ("BODY", "FOOTER"):
            text = component.get("text")
            if not isinstance(text, str):
                problems.append(f"Template {label}: the {kind} component has no text.")
            found[f"{kind.lower()}_text"] = _text(text)
        elif kind == "BUTTONS":
            buttons = component.get("buttons")
            if isinstance(buttons, list):
                found["buttons"] = buttons
            else:
                problems.append(f"Template {label}: BUTTONS holds no list of buttons.")
    return found


def _mpm_button(buttons, label: str, problems: list[str]) -> dict:
    """The MPM button's position among the buttons (0-9) and its text; none: has_mpm_button."""
    none = {"has_mpm_button": False, "button_index": 0, "button_text": ""}
    if not isinstance(buttons, list):
        return none
    positions = [
        index
        for index, button in enumerate(buttons)
        if isinstance(button, dict) and _text(button.get("type")).lower() == MPM_BUTTON
    ]
    if not positions:
        return none
    index = positions[0]
    if len(positions) > 1:
        problems.append(
            f"Template {label}: {len(positions)} MPM buttons; the first (position {index}) is used."
        )
    if not limits.MIN_BUTTON_INDEX <= index <= limits.MAX_BUTTON_INDEX:
        problems.append(
            f"Template {label}: the MPM button is at position {index}, beyond WhatsApp's "
            f"{limits.MAX_BUTTON_INDEX}; not offered for MPM campaigns."
        )
        return none
    text = _text(buttons[index].get("text"))
    if len(text) > BUTTON_TEXT_LENGTH:
        problems.append(
            f"Template {label}: button text is {len(text)} characters; the first "
            f"{BUTTON_TEXT_LENGTH} kept."
        )
        text = text[:BUTTON_TEXT_LENGTH]
    return {"has_mpm_button": True, "button_index": index, "button_text": text or "View items"}
