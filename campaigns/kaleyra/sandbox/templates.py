"""The sandbox's template list: what `GET /v2/<sid>/whatsapp/<waba_id>/message_templates` answers,
in the shape we assume Kaleyra's v2 list has (Meta's: `data[]` and `paging`, see
`campaigns.kaleyra.templates`). It lists the demo's `abandoned_cart` (the template `manage.py
demo` loads) and a few more: a second MPM template whose MPM button is not the first, one still
pending, and a utility template without an MPM button (kept by a sync, never offered for MPM)."""

from campaigns import demo_catalog


def _components(header: str, body: str, footer: str, buttons: list[dict]) -> list[dict]:
    components = [{"type": "HEADER", "format": "TEXT", "text": header}] if header else []
    components.append({"type": "BODY", "text": body})
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


def _demo_template() -> dict:
    demo = demo_catalog.TEMPLATE
    buttons = [{"type": "MPM", "text": "View items"}]
    return {
        "id": "990000000000001",
        "name": demo["name"],
        "language": demo["language"],
        "status": demo["status"].upper(),
        "category": demo["category"],
        "parameter_format": "POSITIONAL",
        "components": _components(
            demo["header_text"], demo["body_text"], demo["footer_text"], buttons
        ),
    }


SANDBOX_TEMPLATES = [
    _demo_template(),
    {
        "id": "990000000000002",
        "name": "new_arrivals",
        "language": "en",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": _components(
            "New this week",
            "Hi {{1}}, fresh picks just landed in the store. Tap View items to see them.",
            "Reply STOP to unsubscribe",
            [
                {"type": "QUICK_REPLY", "text": "Not now"},
                {"type": "MPM", "text": "View items"},
            ],
        ),
    },
    {
        "id": "990000000000003",
        "name": "festive_sale",
        "language": "en_US",
        "status": "PENDING",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": _components(
            "Festive sale",
            "Hi {{1}}, up to {{2}} off for the festive season.",
            "",
            [{"type": "MPM", "text": "View items"}],
        ),
    },
    {
        "id": "990000000000004",
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": _components(
            "",
            "Hi {{1}}, your order {{2}} is on its way.",
            "",
            [{"type": "URL", "text": "Track it", "url": "https://example.com/track/{{1}}"}],
        ),
    },
]
