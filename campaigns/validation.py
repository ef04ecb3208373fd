"""Every rule a template, campaign, recipient's values or request must meet, in one place.

Each check returns `Problem`s that name the field and the limit in plain words, so a user sees
all of them at once before anything is sent. Rules come from Kaleyra's send page and Meta's
template rules; their numbers live in `limits`.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers

from campaigns import limits
from campaigns.models import Campaign, MessageTemplate, template_variables

ERROR = "error"
WARNING = "warning"

# Meta rejects text parameters with new lines, tabs or more than four spaces in a row.
BAD_PARAMETER_TEXT = re.compile(r"[\n\r\t]| {5,}")
LANGUAGE_CODE = re.compile(limits.LANGUAGE_CODE_PATTERN)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    level: str = ERROR

    def __str__(self):
        return f"{self.field}: {self.message}"


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.level == ERROR]


# --- templates ----------------------------------------------------------------------------------


def template_definition_errors(template: MessageTemplate) -> list[Problem]:
    """Problems with a template definition itself (what staff type into the admin)."""
    problems = []
    if not LANGUAGE_CODE.match(template.language or ""):
        problems.append(
            Problem(
                "language", f"“{template.language}” is not a language code like en, en_US or pt_BR."
            )
        )
    header_vars = template_variables(template.header_text)
    if header_vars and header_vars != [1]:
        problems.append(Problem("header_text", "A header may hold one variable, written {{1}}."))
    body_vars = template_variables(template.body_text)
    if body_vars and body_vars != list(range(1, len(body_vars) + 1)):
        problems.append(
            Problem(
                "body_text",
                "Body variables must be numbered {{1}}, {{2}} … without gaps; found "
                + ", ".join(f"{{{{{n}}}}}" for n in body_vars)
                + ".",
            )
        )
    if not limits.MIN_BUTTON_INDEX <= template.button_index <= limits.MAX_BUTTON_INDEX:
        problems.append(button_index_problem(template.button_index))
    return problems


def template_offer_problems(template: MessageTemplate) -> list[Problem]:
    """A template kept from Kaleyra's list but not usable for an MPM: it has no MPM button
    (Meta's MPM templates need one 'View items' button to carry the products), or it vanished
    from the list (deleted in WhatsApp, so every send would fail)."""
    problems = []
    if not template.has_mpm_button:
        problems.append(
            Problem(
                "template",
                f"Template “{template}” has no MPM (View items) button, so it cannot carry "
                "products; choose a template with one.",
            )
        )
    if template.vanished_at is not None:
        problems.append(
            Problem(
                "template",
                f"Template “{template}” is no longer in Kaleyra's template list (gone since "
                f"{template.vanished_at:%Y-%m-%d}); it cannot be sent.",
            )
        )
    return problems


def button_index_problem(index) -> Problem:
    return Problem(
        "button_index",
        f"The button index is {index}; it must be a whole number from "
        f"{limits.MIN_BUTTON_INDEX} to {limits.MAX_BUTTON_INDEX}.",
    )


# --- values -------------------------------------------------------------------------------------


def value_problems(
    template: MessageTemplate, header: str, body: list[str], *, field_prefix: str = ""
) -> list[Problem]:
    """The header value and body values against the template's variables and Meta's limits."""
    problems = []
    header_field = f"{field_prefix}header_value"
    if template.header_variable_count:
        if not header:
            problems.append(
                Problem(
                    header_field, "The template's header has a variable {{1}}: give it a value."
                )
            )
        elif len(header) > limits.MAX_HEADER_VALUE_LENGTH:
            problems.append(
                Problem(
                    header_field,
                    f"The header value is {len(header)} characters; the limit is "
                    f"{limits.MAX_HEADER_VALUE_LENGTH}.",
                )
            )
        else:
            problems.extend(_parameter_text_problems(header_field, header))
    elif header:
        problems.append(
            Problem(
                header_field, "The template's header has no variable: leave the header value empty."
            )
        )

    expected = template.body_variable_count
    if len(body) != expected:
        problems.append(
            Problem(
                f"{field_prefix}body_values",
                f"The template's body has {_count(expected, 'variable')}; "
                f"{len(body)} value{'s were' if len(body) != 1 else ' was'} given.",
            )
        )
    for number, value in enumerate(body, start=1):
        value_field = f"{field_prefix}body_{number}"
        if not value:
            problems.append(Problem(value_field, f"Body value {{{{{number}}}}} is empty."))
        else:
            problems.extend(_parameter_text_problems(value_field, value))
    filled = fill_variables(template.body_text, body)
    if len(filled) > limits.MAX_BODY_TEXT_LENGTH:
        problems.append(
            Problem(
                f"{field_prefix}body_values",
                f"The body with its values filled in is {len(filled)} characters; the limit is "
                f"{limits.MAX_BODY_TEXT_LENGTH}.",
            )
        )
    return problems


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _parameter_text_problems(field_name: str, value: str) -> list[Problem]:
    if BAD_PARAMETER_TEXT.search(value):
        return [
            Problem(
                field_name, "Values cannot hold new lines, tabs or more than four spaces in a row."
            )
        ]
    return []


def fill_variables(text: str, values: list[str]) -> str:
    """`text` with `{{n}}` replaced by the n-th value; a variable without a value stays as is."""

    def replace(match):
        number = int(match.group(1))
        return values[number - 1] if number <= len(values) else match.group(0)

    from campaigns.models import VARIABLE_RE

    return VARIABLE_RE.sub(replace, text or "")


def ref_problems(refs: dict[str, str], *, field_prefix: str = "") -> list[Problem]:
    """Refs longer than 255 characters are cut by Kaleyra; we cut them the same way and say so."""
    return [
        Problem(
            f"{field_prefix}{name}",
            f"{name} is {len(value)} characters; Kaleyra keeps the first {limits.MAX_REF_LENGTH}, "
            "so it will be cut there.",
            WARNING,
        )
        for name in limits.REF_FIELDS
        if len(value := refs.get(name) or "") > limits.MAX_REF_LENGTH
    ]


# --- campaigns ----------------------------------------------------------------------------------


def campaign_problems(campaign: Campaign) -> list[Problem]:
    """Every problem that keeps this campaign from being sent, plus warnings, all at once.

    Expects sections, their items and products prefetched (see selectors.campaign_for_sending).
    """
    return content_problems(
        template=campaign.template,
        header_value=campaign.header_value,
        body_values=list(campaign.body_values or []),
        thumbnail=campaign.thumbnail_product,
        thumbnail_from_recipient=campaign.thumbnail_from_recipient,
        sections=[
            (s.title, None if s.personalised else [i.product for i in s.items.all()])
            for s in campaign.sections.all()
        ],
        wa_source=campaign.wa_source,
        refs={name: getattr(campaign, name) for name in limits.REF_FIELDS},
    )


def content_problems(
    *,
    template: MessageTemplate,
    header_value: str,
    body_values: list[str],
    thumbnail,
    sections,
    wa_source: str,
    refs: dict[str, str],
    thumbnail_from_recipient: bool = False,
) -> list[Problem]:
    """The rules of `campaign_problems` over an MPM's parts, saved or not (the composer checks
    what the marketer is typing with it). `thumbnail` is a Product or None (allowed when each
    recipient's own product heads their message); `sections` are (title, [Product]) pairs,
    (title, None) for a section filled per recipient."""
    problems = []
    if template.status != MessageTemplate.Status.APPROVED:
        problems.append(
            Problem(
                "template",
                f"Template “{template}” is {template.get_status_display().lower()}; "
                "only approved templates can be sent.",
            )
        )
    problems.extend(template_offer_problems(template))
    problems.extend(
        Problem("template", f"Template “{template}”: {problem.message}")
        for problem in template_definition_errors(template)
    )
    problems.extend(value_problems(template, header_value, body_values))

    if thumbnail is None and not thumbnail_from_recipient:
        problems.append(
            Problem("thumbnail_product", "Choose a thumbnail product; its image heads the message.")
        )
    elif thumbnail is not None and not thumbnail.is_sendable:
        problems.append(
            Problem(
                "thumbnail_product",
                f"Thumbnail product {thumbnail.retailer_id} is inactive or not available.",
            )
        )

    problems.extend(section_problems(sections))

    if wa_source not in limits.WA_SOURCES:
        problems.append(
            Problem(
                "wa_source",
                f"“{wa_source}” is not a source Kaleyra knows; use one of "
                + ", ".join(limits.WA_SOURCES)
                + ".",
            )
        )
    problems.extend(ref_problems(refs))
    return problems


def section_problems(sections) -> list[Problem]:
    """Sections as (title, [Product]) pairs: 1 to 10, titled 1 to 24 characters, 1 to 30
    products. A section filled per recipient, (title, None), has its title checked here and
    its products with each recipient's (`campaigns.recipients.products`)."""
    problems = []
    if not sections:
        problems.append(Problem("sections", "Add at least one section with products."))
    elif len(sections) > limits.MAX_SECTIONS:
        problems.append(
            Problem(
                "sections",
                f"There are {len(sections)} sections; the limit is {limits.MAX_SECTIONS}.",
            )
        )
    total = 0
    for number, (title, products) in enumerate(sections, start=1):
        where = f"sections[{number}]"
        if not title or not title.strip():
            problems.append(Problem(f"{where}.title", f"Section {number} needs a title."))
        elif len(title) > limits.MAX_SECTION_TITLE_LENGTH:
            problems.append(
                Problem(
                    f"{where}.title",
                    f"Section {number} title “{title}” is {len(title)} characters; the limit is "
                    f"{limits.MAX_SECTION_TITLE_LENGTH}.",
                )
            )
        if products is None:
            continue
        if not products:
            problems.append(Problem(f"{where}.products", f"Section {number} has no products."))
        for product in products:
            if not product.is_sendable:
                problems.append(
                    Problem(
                        f"{where}.products",
                        f"Product {product.retailer_id} in section {number} is "
                        + ("inactive." if not product.active else f"{product.availability}."),
                    )
                )
        total += len(products)
    if total > limits.MAX_PRODUCTS:
        problems.append(
            Problem(
                "sections",
                f"The sections hold {total} products; the limit is {limits.MAX_PRODUCTS} across "
                "all sections.",
            )
        )
    return problems


# --- a recipient's own values ------------------------------------------------------------------


def override_problems(template: MessageTemplate, overrides: dict[str, str]) -> list[Problem]:
    """A recipient's own values (a CSV row) against the template, before anything is sent."""
    problems = [
        Problem(key, f"{key} holds a NUL character (\\x00), which cannot be stored.")
        for key, value in overrides.items()
        if "\x00" in value
    ]
    if overrides.get("header") and not template.header_variable_count:
        problems.append(Problem("header", "The template's header has no variable; leave it empty."))
    elif len(header := overrides.get("header", "")) > limits.MAX_HEADER_VALUE_LENGTH:
        problems.append(
            Problem(
                "header",
                f"The header value is {len(header)} characters; the limit is "
                f"{limits.MAX_HEADER_VALUE_LENGTH}.",
            )
        )
    for key, value in overrides.items():
        if key.startswith("body_"):
            number = int(key.removeprefix("body_"))
            if number > template.body_variable_count:
                problems.append(
                    Problem(
                        key,
                        f"The template's body has {_count(template.body_variable_count, 'variable')}; "
                        f"there is no {{{{{number}}}}}.",
                    )
                )
        if key in ("header",) or key.startswith("body_"):
            problems.extend(_parameter_text_problems(key, value))
    problems.extend(ref_problems(overrides))
    return problems


# --- webhook endpoints --------------------------------------------------------------------------

# Plain http:// only to this machine, and only where it is allowed (development, tests).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
WEBHOOK_URL_MAX_LENGTH = 500


def webhook_url_problem(url: str, *, local_http: bool) -> str:
    """What is wrong with an endpoint's URL, in plain words; "" when nothing. Every event and
    its signature goes there, so: https, a host, no credentials in it."""
    if not url:
        return "Give the URL that receives the webhooks."
    if len(url) > WEBHOOK_URL_MAX_LENGTH:
        return f"The URL is {len(url)} characters; the limit is {WEBHOOK_URL_MAX_LENGTH}."
    if not url.isascii() or not url.isprintable() or " " in url:
        return "The URL must be plain ASCII without spaces (percent-encode the rest)."
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises on a port that is not a number or out of range)
    except ValueError:
        return "That is not a URL: it should look like https://example.com/webhooks."
    if parts.scheme not in ("https", "http") or not host:
        return "The URL must start with https:// and name a host."
    if parts.username is not None or parts.password is not None:
        return "Put no user name or password in the URL: the signature says it is us."
    if parts.scheme == "http" and not (local_http and host in LOOPBACK_HOSTS):
        return (
            "Use https://. Plain http:// is allowed only to 127.0.0.1 or localhost, in "
            "development (DJANGO_DEBUG or MPM_WEBHOOK_LOCAL_HTTP)."
        )
    return ""


# --- request bodies (used by the sandbox to check requests as strictly as we do) ----------------


def request_body_problems(body) -> list[Problem]:
    """The shape and limits of a "Send Multi-Product Template Messages" request body."""
    if not isinstance(body, dict) or not isinstance(body.get("messaging_object"), dict):
        return [
            Problem("messaging_object", "The body must be a JSON object with messaging_object.")
        ]
    obj = body["messaging_object"]
    problems = []
    for key, expected in (("messaging_product", "whatsapp"), ("type", "template")):
        if obj.get(key) != expected:
            problems.append(Problem(f"messaging_object.{key}", f"Must be “{expected}”."))
    if obj.get("recipient_type", "individual") != "individual":
        problems.append(Problem("messaging_object.recipient_type", "Must be “individual”."))
    if not _is_e164(obj.get("to")):
        problems.append(
            Problem("messaging_object.to", "Must be a valid number written in E.164 (+<digits>).")
        )
    template = obj.get("template")
    if not isinstance(template, dict):
        return [*problems, Problem("messaging_object.template", "Missing.")]
    if not _text(template.get("name")):
        problems.append(Problem("template.name", "Missing."))
    if not LANGUAGE_CODE.match(_text(_object(template.get("language")).get("code"))):
        problems.append(
            Problem("template.language.code", "Must be a code like en, en_US or pt_BR.")
        )
    components = template.get("components")
    if not isinstance(components, list):
        return [*problems, Problem("template.components", "Must be a list.")]
    buttons = [c for c in components if isinstance(c, dict) and c.get("type") == "button"]
    if len(buttons) != 1 or buttons[0].get("sub_type") != "mpm":
        return [
            *problems,
            Problem("template.components", "Needs exactly one button with sub_type mpm."),
        ]
    for component in components:
        if not isinstance(component, dict):
            problems.append(Problem("template.components", "Each component must be an object."))
        elif component.get("type") in ("header", "body"):
            parameters = [_object(p) for p in _list(component.get("parameters"))]
            for parameter in parameters or [{}]:
                if parameter.get("type") != "text" or not _text(parameter.get("text")):
                    problems.append(
                        Problem(component["type"], "Each parameter needs a text value.")
                    )
            if component["type"] == "header" and any(
                len(_text(p.get("text"))) > limits.MAX_HEADER_VALUE_LENGTH for p in parameters
            ):
                problems.append(
                    Problem(
                        "header",
                        f"The header value exceeds {limits.MAX_HEADER_VALUE_LENGTH} characters.",
                    )
                )
    button = buttons[0]
    index = button.get("index")
    if (
        not isinstance(index, int)
        or isinstance(index, bool)
        or not (limits.MIN_BUTTON_INDEX <= index <= limits.MAX_BUTTON_INDEX)
    ):
        problems.append(button_index_problem(index))
    try:
        action = button["parameters"][0]["action"]
        sections = action["sections"]
    except (KeyError, IndexError, TypeError):
        return [
            *problems,
            Problem("button.parameters", "Needs one action parameter with sections."),
        ]
    if not _text(action.get("thumbnail_product_retailer_id")):
        problems.append(Problem("thumbnail_product_retailer_id", "Missing."))
    if not isinstance(sections, list):
        return [*problems, Problem("sections", "Must be a list.")]
    sections = [_object(s) for s in sections]
    products = [
        [
            RetailerRef(_text(_object(item).get("product_retailer_id")))
            for item in _list(s.get("product_items"))
        ]
        for s in sections
    ]
    problems.extend(
        section_problems(
            [(_text(s.get("title")), p) for s, p in zip(sections, products, strict=True)]
        )
    )
    return problems


# A request body is untrusted JSON: a value of the wrong type counts as missing, never crashes.
def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _is_e164(value) -> bool:
    """A valid number written exactly as E.164; recipients' own numbers are read by
    `campaigns.recipients.phones`, which validation does not import."""
    try:
        number = phonenumbers.parse(_text(value), None)
    except phonenumbers.NumberParseException:
        return False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.is_valid_number(number) and e164 == value


@dataclass(frozen=True)
class RetailerRef:
    """A product known by its retailer ID only, as section_problems counts it: one named in a
    request (the sandbox cannot see the customer's catalog) or already resolved."""

    retailer_id: str
    active: bool = True
    availability: str = "in stock"

    @property
    def is_sendable(self) -> bool:
        return bool(self.retailer_id)
