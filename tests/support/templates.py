"""Kaleyra-shaped template lists for the sync tests: Meta's shape (`data[]`, `paging`), as we
assume Kaleyra's v2 `GET …/message_templates` answers (catalog-notes K1-K2), in pages linked by
`paging.next` absolute URLs."""

import zlib

from tests.support.provider import SID

WABA_ID = "104996632219311"
PATH = f"/v2/{SID}/whatsapp/{WABA_ID}/message_templates"


def mpm_template(name, *, language="en_US", status="APPROVED", ident=None, buttons=None, **extra):
    """One template as Meta lists it: a text header, a body with variables, a footer and (unless
    `buttons` says otherwise) one MPM button."""
    if buttons is None:
        buttons = [{"type": "MPM", "text": "View items"}]
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Your {{1}} is waiting"},
        {"type": "BODY", "text": "Hi {{1}}, the items you left are selling fast: {{2}}."},
        {"type": "FOOTER", "text": "Reply STOP to unsubscribe"},
    ]
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "id": ident or f"{zlib.crc32(f'{name}:{language}'.encode()):015d}",
        "name": name,
        "language": language,
        "status": status,
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": components,
        **extra,
    }


def utility_template(name="order_update", **extra):
    """A template without an MPM button (a URL button instead)."""
    return mpm_template(
        name,
        buttons=[{"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"}],
        category="UTILITY",
        **extra,
    )


def page(templates, *, next_url=None, after="QVFIUm"):
    paging = {"cursors": {"before": "QVFIUb", "after": after}}
    if next_url:
        paging["next"] = next_url
    return {"data": templates, "paging": paging}


def answer_pages(provider, *pages):
    """Script the stand-in with these pages (lists of templates), each linked to the next by
    an absolute `paging.next` on the stand-in."""
    for number, templates in enumerate(pages):
        last = number == len(pages) - 1
        link = None if last else f"{provider.base_url}{PATH}?limit=100&after=CURSOR{number + 1}"
        provider.answer(200, page(templates, next_url=link, after=f"CURSOR{number + 1}"))


def use_waba(settings):
    settings.KALEYRA_WABA_ID = WABA_ID
