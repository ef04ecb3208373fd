"""Kaleyra's documented answers to a send, word for word (reference: kaleyra-send-mpm-template.txt):
the offline sandbox answers with them and the tests' stand-in plays them, so both speak exactly as
Kaleyra does."""


def body(code: str, message: str, error: dict, data=None) -> dict:
    return {"code": code, "message": message, "data": {} if data is None else data, "error": error}


def accepted(message_id: str) -> dict:
    return body("WA202", "Request Accepted", {}, data={"message_id": message_id})


_RBC001 = "Incorrect SID or API key."
_WA401 = "Phone number is not present or does not belong to the account."
_E110 = "Please check your balance, You have a low balance!"
_WA_401_ACCOUNT = "API is not available for given customer.Please contact support for more info"
_WA_401_VERSION = (
    "The phone number you're using is associated with different Version of our WA API. "
    "Please use the appropriate endpoint."
)
# From Kaleyra's v2 error page; the page gives no HTTP status, so 429 stands in for it.
_WAV2101 = "Daily message limit reached for the account."

# name → (HTTP status, body). Two refusals share the code WA-401, so names, not codes, are keys.
ERRORS: dict[str, tuple[int, dict]] = {
    "RBC001": (401, body("RBC001", _RBC001, {"error": _RBC001}, data=[])),
    "WA401": (401, body("WA401", _WA401, {"phone_number": _WA401})),
    "WA400": (
        400,
        body("WA400", "Refer to correct payload format", {"payload": "Incorrect payload format"}),
    ),
    "WA500": (500, body("WA500", "Please try again later", {"error": "Internal server error"})),
    "E110": (400, body("E110", _E110, {"balance": _E110})),
    "WA-401 account": (401, body("WA-401", _WA_401_ACCOUNT, {"account": _WA_401_ACCOUNT})),
    "WA-401 version": (401, body("WA-401", _WA_401_VERSION, {"phone_number": _WA_401_VERSION})),
    "WAV2101": (429, body("WAV2101", _WAV2101, {"account": _WAV2101})),
}
PROXY_502_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


def wa400(detail: str) -> tuple[int, dict]:
    """WA400 with the sandbox's own reason in `error.payload`."""
    return 400, body("WA400", "Refer to correct payload format", {"payload": detail})
