"""The data: catalog, approved templates, campaigns with their sections, every send's record and
the webhooks sent out.

One module per subject; everything is importable from `campaigns.models`."""

from campaigns.models.api import ApiToken, IdempotencyRecord
from campaigns.models.audiences import Consent, ConsentEvent, Contact, ContactList, Segment
from campaigns.models.callbacks import (
    CallbackInbox,
    OptOut,
    Order,
    OrderItem,
    RateSlot,
    Reply,
    SenderPacing,
    StatusEvent,
)
from campaigns.models.campaigns import Campaign, Section, SectionItem
from campaigns.models.catalog import VARIABLE_RE, MessageTemplate, Product, template_variables
from campaigns.models.catalog_imports import CatalogImport
from campaigns.models.contact_imports import ContactImport
from campaigns.models.messages import Message, SendAttempt
from campaigns.models.rawsql import AnyOf  # registers `__any_of` on CharFields
from campaigns.models.senders import Sender
from campaigns.models.tallies import CampaignTally, CampaignTallyDelta, TallyKind
from campaigns.models.uploads import RecipientUpload
from campaigns.models.webhooks import (
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from campaigns.models.workers import WorkerHeartbeat

__all__ = [
    "VARIABLE_RE",
    "AnyOf",
    "ApiToken",
    "CallbackInbox",
    "Campaign",
    "CampaignTally",
    "CampaignTallyDelta",
    "CatalogImport",
    "Consent",
    "ConsentEvent",
    "Contact",
    "ContactImport",
    "ContactList",
    "IdempotencyRecord",
    "Message",
    "MessageTemplate",
    "OptOut",
    "Order",
    "OrderItem",
    "Product",
    "RateSlot",
    "RecipientUpload",
    "Reply",
    "Section",
    "SectionItem",
    "Segment",
    "SendAttempt",
    "Sender",
    "SenderPacing",
    "StatusEvent",
    "TallyKind",
    "WebhookAttempt",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WorkerHeartbeat",
    "template_variables",
]
