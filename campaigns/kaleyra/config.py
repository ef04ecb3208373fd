"""Kaleyra's settings: the messages URL per region (or the sandbox), SID, key and sender.

A send goes out as one `SenderAccount` (a Sender row's values, or the KALEYRA_* settings when
there is no Sender at all); `config_for` turns it into the client's `KaleyraConfig`, reading its
key from the environment variable it names."""

from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from campaigns import conf, limits

SANDBOX_API_KEY = "sandbox"  # not a secret: the offline sandbox accepts it


@dataclass(frozen=True)
class KaleyraConfig:
    base_url: str  # e.g. https://api.in.kaleyra.io, or the sandbox
    sid: str
    api_key: str
    sender: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    @property
    def messages_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/v2/{self.sid}/whatsapp/{self.sender}/messages"

    def __repr__(self):  # never show the key in tracebacks or logs
        return (
            f"KaleyraConfig(base_url={self.base_url!r}, sid={self.sid!r}, sender={self.sender!r})"
        )


@dataclass(frozen=True)
class SenderAccount:
    """Who a send goes out as: one business number and its Kaleyra account. It holds the name of
    the variable with the API key, never the key."""

    number: str
    sid: str
    region: str = "in"
    api_key_variable: str = conf.DEFAULT_KEY_VARIABLE
    rate_per_second: float = 80.0
    display_name: str = ""
    sender_id: int | None = None  # the Sender row; None: the KALEYRA_* settings

    @property
    def label(self) -> str:
        """How messages name it: "Sender Brand 2 (+919000000002)"."""
        if self.sender_id is None:
            return "The KALEYRA_* settings"
        return f"Sender {self.display_name} ({self.number})"


def settings_account() -> SenderAccount:
    """The single sender of the settings, as every send used before Senders existed."""
    return SenderAccount(
        number=conf.KALEYRA_SENDER,
        sid=conf.KALEYRA_SID,
        region=conf.KALEYRA_REGION,
        rate_per_second=conf.KALEYRA_RATE_PER_SECOND,
    )


LIVE_CREDENTIALS = {
    "KALEYRA_SID": "the account's SID",
    "KALEYRA_API_KEY": "the account's API key",
    "KALEYRA_SENDER": "the WhatsApp business number to send from",
}


def missing_credentials() -> list[str]:
    """The live-mode variables that are not set, in the order a person would set them."""
    return [name for name in LIVE_CREDENTIALS if not str(getattr(conf, name)).strip()]


def missing_key(account: SenderAccount) -> str:
    """What is wrong with a Sender's key variable in plain words, naming the variable (never its
    value); "" when it holds a key."""
    if conf.sender_api_key(account.api_key_variable):
        return ""
    return (
        f"{account.label} takes its API key from the environment variable "
        f"{account.api_key_variable}, which is not set (or empty)."
    )


def config_from_settings() -> KaleyraConfig:
    """Kaleyra settings from the environment, or the sandbox's in sandbox mode (KALEYRA_MODE)."""
    return config_for(settings_account())


def config_for(account: SenderAccount) -> KaleyraConfig:
    """The client's settings for one sender: its SID, number, region and the key its variable
    holds, or the sandbox's in sandbox mode. ImproperlyConfigured names what is missing."""
    if conf.KALEYRA_SANDBOX:
        return KaleyraConfig(
            base_url=conf.KALEYRA_SANDBOX_BASE_URL,
            sid=account.sid or "SANDBOX",
            api_key=SANDBOX_API_KEY,
            sender=account.number or "+910000000000",
            connect_timeout=conf.KALEYRA_CONNECT_TIMEOUT,
            read_timeout=conf.KALEYRA_READ_TIMEOUT,
        )
    if account.sender_id is None:
        missing = missing_credentials()
        if missing:
            names = (
                ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
            )
            meanings = "; ".join(LIVE_CREDENTIALS[name] for name in missing)
            raise ImproperlyConfigured(
                f"KALEYRA_MODE is live but {names} {'is' if len(missing) == 1 else 'are'} not "
                f"set ({meanings})."
            )
    else:
        problem = missing_key(account) or (
            "" if account.sid.strip() else f"{account.label} has no SID."
        )
        if problem:
            raise ImproperlyConfigured(problem)
    base_url = conf.KALEYRA_BASE_URL
    if not base_url:
        region = account.region.lower()
        domain = limits.REGION_DOMAINS.get(region)
        if domain is None:
            name = "KALEYRA_REGION" if account.sender_id is None else f"{account.label}: region"
            raise ImproperlyConfigured(
                f"{name} must be one of {', '.join(limits.REGION_DOMAINS)}; got {account.region!r}."
            )
        base_url = f"https://{domain}"
    return KaleyraConfig(
        base_url=base_url,
        sid=account.sid,
        api_key=conf.sender_api_key(account.api_key_variable),
        sender=account.number,
        connect_timeout=conf.KALEYRA_CONNECT_TIMEOUT,
        read_timeout=conf.KALEYRA_READ_TIMEOUT,
    )


def request_headers(api_key: str) -> dict[str, str]:
    return {"api-key": api_key, "Content-Type": "application/json"}
