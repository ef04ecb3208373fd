"""What each provider answer means, in plain words, and what the user should do about it.

Codes from Kaleyra's send page and v2 error page (WAV2101); Meta's codes (from callbacks) from
spec-notes.
"""

from dataclasses import dataclass

from campaigns import conf


@dataclass(frozen=True)
class Explanation:
    meaning: str
    action: str

    def __str__(self):
        return f"{self.meaning} {self.action}"


KALEYRA_CODES = {
    "WA202": Explanation("Kaleyra accepted the message.", "Nothing to do."),
    "RBC001": Explanation(
        "Kaleyra rejected the SID or API key.",
        "Check KALEYRA_SID and KALEYRA_API_KEY in the environment, then resend.",
    ),
    "WA401": Explanation(
        "The sender number is missing or does not belong to this Kaleyra account.",
        "Check KALEYRA_SENDER against the WhatsApp numbers of the account.",
    ),
    "WA400": Explanation(
        "Kaleyra found the request body malformed.",
        "Fix the campaign (the attempt's error says which part) and resend.",
    ),
    "WA500": Explanation(
        "Kaleyra had an internal error.",
        "Retry later: Kaleyra advises up to 3 retries, at 5, 10 and 15 minutes.",
    ),
    "E110": Explanation(
        "The Kaleyra account's balance is too low.",
        "Top up the balance, then resend.",
    ),
    "WA-401": Explanation(
        "The WhatsApp API is not available for this account, or the number belongs to another API version.",
        "Contact Kaleyra support, or use the endpoint of the number's API version.",
    ),
    "WAV2101": Explanation(
        "The account's daily sending limit is reached.",
        "Ask Kaleyra to raise the limit, or resume tomorrow.",
    ),
}

TRANSPORT_ANSWERS = {
    "timeout": Explanation(
        "Kaleyra did not answer in time; the message may or may not have been sent.",
        "Check Kaleyra's reports before resending it, to avoid a duplicate.",
    ),
    "connection": Explanation(
        "Could not connect to Kaleyra; the request never left.",
        "Check the network and KALEYRA_REGION / KALEYRA_BASE_URL, then resend.",
    ),
    "unexpected": Explanation(
        "Kaleyra (or a proxy in between) gave an answer it does not document.",
        "Look at the recorded response body; resend once the cause is clear.",
    ),
}

# In sandbox mode the far end is the app's own web server, found at KALEYRA_SANDBOX_BASE_URL.
SANDBOX_CONNECTION = Explanation(
    "Could not connect to the sandbox; the request never left.",
    "Check that the app's web server is running at KALEYRA_SANDBOX_BASE_URL, then resend.",
)


# Meta's error codes, forwarded by Kaleyra in failure callbacks (`statuses[].errors[]`).
# spec-notes, "Meta error codes that matter for MPM campaigns"; branch on the number.
META_CODES = {
    "130429": Explanation(
        "The sender number went over its throughput limit (messages per second).",
        "The app slows its sending down for a while; nothing to do unless it keeps happening.",
    ),
    "131056": Explanation(
        "Too many messages went to this customer in a short time (about one every 6 seconds).",
        "The app slows its sending down; space out campaigns to the same customers.",
    ),
    "131049": Explanation(
        "Meta's per-user marketing limit: Meta declined this marketing message to keep the "
        "customer's engagement healthy.",
        "Do not resend now. Set MPM_RETRY_131049 to try once more, no sooner than 24 hours later.",
    ),
    "131050": Explanation(
        "The customer stopped marketing messages from this business in WhatsApp.",
        "Nothing: the number is on the opt-out list and will not be sent marketing again.",
    ),
    "131026": Explanation(
        "This number cannot receive the message (not on WhatsApp, or an old WhatsApp version).",
        "Remove the number from your lists; resending will fail again.",
    ),
    "131048": Explanation(
        "Meta restricted the sender number for spam or low quality.",
        "The campaign was paused: check the number's quality rating in WhatsApp Manager first.",
    ),
    "131057": Explanation(
        "The business account is in maintenance (a throughput upgrade).",
        "Resend after about a minute.",
    ),
    "132000": Explanation(
        "The number of values does not match the template's variables.",
        "Fix the campaign's header and body values, then resend.",
    ),
    "132001": Explanation(
        "The template (name and language) does not exist in WhatsApp.",
        "Check the template's name and language against WhatsApp Manager.",
    ),
    "132015": Explanation(
        "Meta paused the template for low quality.",
        "Campaigns using it were paused; edit the template or wait until Meta resumes it.",
    ),
    "132016": Explanation(
        "Meta disabled the template for good.",
        "Campaigns using it were paused; create and approve a new template.",
    ),
    "131009": Explanation(
        "A value in the message is invalid (for example an unknown product).",
        "Check the campaign's products against the catalog, then resend.",
    ),
    "100": Explanation(
        "A value in the message is invalid (for example an unknown product).",
        "Check the campaign's products against the catalog, then resend.",
    ),
    "368": Explanation(
        "Meta restricted the business account.",
        "The campaign was paused: check the account's status in WhatsApp Manager.",
    ),
}

META_UNKNOWN = Explanation(
    "Meta reported an error this app does not know.",
    "Look at the status event's title and details; Meta's error code reference explains it.",
)


def explain_meta(code: str) -> Explanation | None:
    """The explanation for one of Meta's numeric error codes; None when there is no code."""
    if not code:
        return None
    return META_CODES.get(str(code), META_UNKNOWN)


def explain(code: str, http_status: int | None = None) -> Explanation | None:
    """The explanation for a provider code or transport outcome; None when there is nothing to say."""
    if code in KALEYRA_CODES:
        return KALEYRA_CODES[code]
    if code in META_CODES:
        return META_CODES[code]
    if code == "connection" and conf.KALEYRA_SANDBOX:
        return SANDBOX_CONNECTION
    if code in TRANSPORT_ANSWERS:
        return TRANSPORT_ANSWERS[code]
    if code or http_status:
        return TRANSPORT_ANSWERS["unexpected"]
    return None


def describe_test_send(to: str, result) -> tuple[bool, str]:
    """(accepted, what happened in plain words) for a test send's `kaleyra.SendResult`."""
    if result.accepted:
        return True, f"Test sent to {to}: Kaleyra accepted it, message ID {result.message_id}."
    code = result.result_code or f"HTTP {result.http_status}"
    said = f" Kaleyra said: “{result.message}”." if result.message else ""
    advice = explain(result.result_code, result.http_status)
    return False, f"The test to {to} did not go through ({code}).{said} {advice or ''}".strip()
