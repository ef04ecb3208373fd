"""What each provider answer means, in plain words, and what the user should do about it.

Codes from Kaleyra's send page and v2 error page (WAV2101); Meta's codes from spec-notes.
"""

from dataclasses import dataclass


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


def explain(code: str, http_status: int | None = None) -> Explanation | None:
    """The explanation for a provider code or transport outcome; None when there is nothing to say."""
    if code in KALEYRA_CODES:
        return KALEYRA_CODES[code]
    if code in TRANSPORT_ANSWERS:
        return TRANSPORT_ANSWERS[code]
    if code or http_status:
        return TRANSPORT_ANSWERS["unexpected"]
    return None
