"""Every number from the provider's contract, named once.

Sources: Kaleyra's "Send Multi-Product Template Messages" page (shared/reference) and Meta's
template rules (spec-notes). Forms, validation, the sandbox and the tests import these.
"""

# Sections and products of the MPM button's action.
MAX_SECTIONS = 10
MAX_SECTION_TITLE_LENGTH = 24
MAX_PRODUCTS = 30  # across all sections

# Catalog products as Meta's feed takes them (catalog-notes M3, M5: sources differ on title and
# description; the larger numbers are kept, since a shorter text always fits).
MAX_RETAILER_ID_LENGTH = 100
MAX_PRODUCT_NAME_LENGTH = 200
MAX_PRODUCT_DESCRIPTION_LENGTH = 9999
MAX_PRODUCT_URL_LENGTH = 500
MAX_BRAND_LENGTH = 100

# Button index: "up to 10 buttons using index values of 0 to 9".
MIN_BUTTON_INDEX = 0
MAX_BUTTON_INDEX = 9

# Template texts (Meta).
MAX_TEMPLATE_NAME_LENGTH = 512
MAX_HEADER_TEXT_LENGTH = 60
MAX_HEADER_VARIABLES = 1
MAX_BODY_TEXT_LENGTH = 1024
MAX_FOOTER_TEXT_LENGTH = 60
MAX_HEADER_VALUE_LENGTH = 60  # a header value fills a 60-character header

# extra_info: "ref, ref1, ref2 ... can be 255 characters long only"; longer ones are truncated.
MAX_REF_LENGTH = 255
REF_FIELDS = ("ref", "ref1", "ref2")
# "Supported values for wa_source"; any other value is overridden as "api" by Kaleyra.
WA_SOURCES = (
    "api",
    "clevertap",
    "zoho",
    "webengage",
    "shopify",
    "leadsquared",
    "responsys",
    "braze",
    "hubspot",
    "salesforce",
    "zapier",
    "eloqua",
    "moengage",
)
DEFAULT_WA_SOURCE = "api"

# E.164: a "+", the country code and the number; at most 15 digits.
MAX_E164_DIGITS = 15

# Regional API domains ("API Domain and Value").
REGION_DOMAINS = {
    "in": "api.in.kaleyra.io",
    "sg": "api.kaleyra.io",
    "eu": "api.eu.kaleyra.io",
    "na": "api.na.kaleyra.ai",
}

# Meta has not delivered marketing templates to US numbers since 2025-04-01.
MARKETING_BLOCKED_REGIONS = frozenset({"US"})

# Language codes as Kaleyra writes them: en, en_US, pt_BR.
LANGUAGE_CODE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
