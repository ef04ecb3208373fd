"""Recipients: read them (typed numbers or a CSV), check every one, and queue one Message each.

`inputs` reads lists, `phones` holds the rules for numbers, `eligibility` decides who is left
out and why, `queueing` plans and queues a send; their public names are exported here.
"""

from campaigns.recipients.audiences import (
    AudienceSummary,
    audience_contacts,
    audience_summary,
    campaign_audience,
    contact_recipients,
)
from campaigns.recipients.eligibility import (
    MAX_REPORTED,
    OPT_OUT_SKIP_REASON,
    US_SKIP_REASON,
    RowProblems,
    check_recipient,
    frequency_cap_reason,
    refusal_for_test_send,
    skip_reason,
    skip_reasons,
)
from campaigns.recipients.inputs import (
    CsvRecipients,
    RecipientFileError,
    RecipientInput,
    recipients_from_numbers,
)
from campaigns.recipients.phones import (
    RecipientList,
    is_marketing_blocked,
    normalise_phone,
    parse_recipients,
    split_numbers,
)
from campaigns.recipients.products import CatalogLookup
from campaigns.recipients.queueing import (
    CHUNK,
    QueueReport,
    SendPlan,
    campaign_queue_recipients,
    chunks,
    invalid_rows,
    recipients_plan,
    valid_recipients,
)

__all__ = [
    "CHUNK",
    "MAX_REPORTED",
    "OPT_OUT_SKIP_REASON",
    "US_SKIP_REASON",
    "AudienceSummary",
    "CatalogLookup",
    "CsvRecipients",
    "QueueReport",
    "RecipientFileError",
    "RecipientInput",
    "RecipientList",
    "RowProblems",
    "SendPlan",
    "audience_contacts",
    "audience_summary",
    "campaign_audience",
    "campaign_queue_recipients",
    "check_recipient",
    "chunks",
    "contact_recipients",
    "frequency_cap_reason",
    "invalid_rows",
    "is_marketing_blocked",
    "normalise_phone",
    "parse_recipients",
    "recipients_from_numbers",
    "recipients_plan",
    "refusal_for_test_send",
    "skip_reason",
    "skip_reasons",
    "split_numbers",
    "valid_recipients",
]
