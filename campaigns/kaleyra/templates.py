"""Reading Kaleyra's v2 template list, `GET {base}/v2/{sid}/whatsapp/{waba_id}/message_templates`
with the `api-key` header (developers.kaleyra.io, "WhatsApp Message API v2: Get templates").

Kaleyra does not document the answer's shape or paging; we read it as Meta's (`data[]` of
templates, `paging.next` an absolute URL to the next page) and follow `paging.next` only to the
host we asked, at most `MAX_PAGES` times. Every failure (no connection, a timeout, an HTTP error,
a body that is not the expected JSON) becomes a problem in the `TemplateListing`, in plain words,
with the pages read before it kept. It never raises for anything the network or Kaleyra does,
never logs or reports the API key, and knows nothing of the ORM.
"""

import json
import logging
from dataclasses import dataclass, field
from importlib import metadata
from urllib.parse import quote, urlsplit

import requests

from campaigns import jsonsafe
from campaigns.kaleyra.config import KaleyraConfig

logger = logging.getLogger(__name__)

MAX_PAGES = 100  # a provider that keeps answering `next` never keeps us reading
MAX_PAGE_BYTES = 10_000_000  # a page of 100 templates is a few hundred kilobytes


@dataclass
class TemplateListing:
    """What the template list said: every template entry read (as received), whether every page
    was read (`complete`: only then may a template missing from it count as vanished), and what
    went wrong, in plain words."""

    templates: list = field(default_factory=list)
    complete: bool = False
    pages: int = 0
    problems: list[str] = field(default_factory=list)


def templates_url(config: KaleyraConfig, waba_id: str) -> str:
    base = config.base_url.rstrip("/")
    sid, waba = quote(config.sid, safe=""), quote(waba_id, safe="")
    return f"{base}/v2/{sid}/whatsapp/{waba}/message_templates"


def user_agent() -> str:
    try:
        version = metadata.version("mpm-campaigns")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"mpm-campaigns/{version} requests/{requests.__version__} (+Kaleyra WhatsApp API v2)"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _session(config: KaleyraConfig, url: str) -> requests.Session:
    session = requests.Session()
    # Proxies from HTTPS_PROXY / NO_PROXY, but never ~/.netrc (it could add an Authorization
    # header), as the send client does.
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(url)
    session.headers.update(
        {"api-key": config.api_key, "Accept": "application/json", "User-Agent": user_agent()}
    )
    return session


def _read_body(response: requests.Response) -> bytes | None:
    """The body, or None when it is larger than any template page should be."""
    chunks, size = [], 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > MAX_PAGE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error_text(body: bytes) -> str:
    """Kaleyra's own words for a refusal (`message`, or `error.message`), when it gave any."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    words = data.get("message") or (error.get("message") if isinstance(error, dict) else error)
    code = data.get("code")
    text = " ".join(str(part) for part in (code, words) if part and isinstance(part, str | int))
    return text[:200]


def fetch_page(session: requests.Session, url: str, config: KaleyraConfig, number: int):
    """One page: (its JSON object, "") or (None, the problem in plain words)."""
    where = f"page {number} of Kaleyra's template list"
    try:
        response = session.get(
            url,
            timeout=(config.connect_timeout, config.read_timeout),
            allow_redirects=False,
            stream=True,
        )
        with response:
            body = _read_body(response)
    except requests.Timeout:
        limits = f"{config.connect_timeout:g} s to connect, {config.read_timeout:g} s to answer"
        return None, f"Kaleyra did not answer {where} in time ({limits})."
    except requests.RequestException as exc:  # the key is in a header, never in these words
        host = urlsplit(url).netloc
        return None, f"Could not read {where} from {host}: {type(exc).__name__}."
    if body is None:
        return (
            None,
            f"Kaleyra's answer to {where} is larger than {MAX_PAGE_BYTES:,} bytes; not read.",
        )
    if response.status_code != 200:
        words = _error_text(body)
        hint = (
            " (check KALEYRA_SID, KALEYRA_API_KEY and KALEYRA_WABA_ID)"
            if response.status_code in (401, 403, 404)
            else ""
        )
        said = f": {words}" if words else ""
        return None, f"Kaleyra answered {where} with HTTP {response.status_code}{said}{hint}."
    try:
        data = jsonsafe.loads(body)
    except jsonsafe.JsonRefused as exc:
        return None, f"Kaleyra's answer to {where} cannot be read: {exc}."
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None, f'Kaleyra\'s answer to {where} has no list of templates ("data").'
    return data, ""


def next_page_url(data: dict, first_url: str) -> tuple[str, str]:
    """(`paging.next`, "") when there is a next page we may follow, ("", "") at the end, or
    ("", the problem) for a link we refuse."""
    paging = data.get("paging")
    link = paging.get("next") if isinstance(paging, dict) else None
    if not link:
        return "", ""
    if not isinstance(link, str):
        return "", "Kaleyra's paging.next is not a URL; the pages after it were not read."
    if _origin(link) != _origin(first_url):
        return "", (
            f"Kaleyra's paging.next points to another host ({urlsplit(link).netloc or link[:80]}); "
            "not followed (the API key is sent only to Kaleyra), so the list may be incomplete."
        )
    return link, ""


def fetch_templates(
    config: KaleyraConfig, waba_id: str, *, max_pages: int = MAX_PAGES, page_size: int | None = None
) -> TemplateListing:
    """Every page of the template list, following `paging.next`; never raises for what the
    network or Kaleyra does. No `limit` is sent unless `page_size` is given: Kaleyra documents
    no query parameters for this list (and an unknown one could be refused)."""
    listing = TemplateListing()
    if not waba_id:
        listing.problems.append(
            "KALEYRA_WABA_ID is not set: the template list's URL needs the WhatsApp Business "
            "Account id."
        )
        return listing
    first = templates_url(config, waba_id)
    url = f"{first}?limit={page_size}" if page_size else first
    seen = set()
    with _session(config, first) as session:
        while url:
            if listing.pages >= max_pages:
                listing.problems.append(
                    f"Stopped after {max_pages} pages of Kaleyra's template list; the rest was "
                    "not read."
                )
                return listing
            if url in seen:
                listing.problems.append(
                    "Kaleyra's paging.next repeats a page already read; the list was not read "
                    "further."
                )
                return listing
            seen.add(url)
            data, problem = fetch_page(session, url, config, listing.pages + 1)
            if problem:
                logger.warning("Template sync: %s", problem)
                listing.problems.append(problem)
                return listing
            listing.pages += 1
            listing.templates.extend(data["data"])
            url, problem = next_page_url(data, first)
            if problem:
                listing.problems.append(problem)
                return listing
    listing.complete = True
    return listing
