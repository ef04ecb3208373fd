"""Kaleyra's settings: the messages URL per region (or the sandbox), SID, key and sender."""

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


LIVE_CREDENTIALS = {
    "KALEYRA_SID": "the account's SID",
    "KALEYRA_API_KEY": "the account's API key",
    "KALEYRA_SENDER": "the WhatsApp business number to send from",
}


def missing_credentials() -> list[str]:
    """The live-mode variables that are not set, in the order a person would set them."""
    return [name for name in LIVE_CREDENTIALS if not str(getattr(conf, name)).strip()]


def config_from_settings() -> KaleyraConfig:
    """Kaleyra settings from the environment, or the sandbox's in sandbox mode (KALEYRA_MODE)."""
    if conf.KALEYRA_SANDBOX:
        return KaleyraConfig(
            base_url=conf.KALEYRA_SANDBOX_BASE_URL,
            sid=conf.KALEYRA_SID or "SANDBOX",
            api_key=SANDBOX_API_KEY,
            sender=conf.KALEYRA_SENDER or "+910000000000",
            connect_timeout=conf.KALEYRA_CONNECT_TIMEOUT,
            read_timeout=conf.KALEYRA_READ_TIMEOUT,
        )
    missing = missing_credentials()
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        meanings = "; ".join(LIVE_CREDENTIALS[name] for name in missing)
        raise ImproperlyConfigured(
            f"KALEYRA_MODE is live but {names} {'is' if len(missing) == 1 else 'are'} not set "
            f"({meanings})."
        )
    base_url = conf.KALEYRA_BASE_URL
    if not base_url:
        domain = limits.REGION_DOMAINS.get(conf.KALEYRA_REGION.lower())
        if domain is None:
            raise ImproperlyConfigured(
                f"KALEYRA_REGION must be one of {', '.join(limits.REGION_DOMAINS)}; "
                f"got {conf.KALEYRA_REGION!r}."
            )
        base_url = f"https://{domain}"
    return KaleyraConfig(
        base_url=base_url,
        sid=conf.KALEYRA_SID,
        api_key=conf.KALEYRA_API_KEY,
        sender=conf.KALEYRA_SENDER,
        connect_timeout=conf.KALEYRA_CONNECT_TIMEOUT,
        read_timeout=conf.KALEYRA_READ_TIMEOUT,
    )


def request_headers(api_key: str) -> dict[str, str]:
    return {"api-key": api_key, "Content-Type": "application/json"}
