"""The build step: each claimed Message's request body, the same bytes the preview shows."""

from campaigns.payload import BodyTemplate, MpmContent, build_request, serialize
from campaigns.sending.claims import Claimed


def own_ref(message: Claimed) -> str:
    return f"mpm-{message.id}"


def request_body(content: MpmContent, message: Claimed) -> dict:
    """A Message's body; when the campaign leaves `ref` free it carries the Message's own id,
    so a callback can always be matched to its row (Kaleyra has no idempotency key)."""
    overrides = dict(message.overrides)
    if not overrides.get("ref") and not content.extra_info.get("ref"):
        overrides["ref"] = own_ref(message)
    return build_request(content, message.to, overrides)


class RequestEncoder:
    """The bytes of each Message's request: recipients without their own values share one
    `BodyTemplate` (the common case in a big send); the others are built in full."""

    def __init__(self, content: MpmContent):
        self.content = content
        self.with_own_ref = not content.extra_info.get("ref")
        self.template = BodyTemplate(content, with_ref=self.with_own_ref)

    def encode(self, message: Claimed) -> bytes:
        if message.overrides:
            return serialize(request_body(self.content, message))
        return self.template.render(message.to, own_ref(message) if self.with_own_ref else "")
