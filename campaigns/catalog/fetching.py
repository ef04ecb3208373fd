"""A scheduled feed fetched from its address (catalog-notes M6: Meta reads feeds at most hourly),
streamed to a file so a large catalog never sits in memory; every failure said in plain words."""

import re
from pathlib import Path

import requests

from campaigns import conf
from campaigns.catalog.importing import FeedFileError

CHUNK_BYTES = 1 << 16


def is_address(source: str) -> bool:
    return bool(re.match(r"^https?://", source, re.IGNORECASE))


def fetch_feed(url: str, into: Path) -> None:
    """Download `url` to `into`, at most MPM_UPLOAD_MAX_BYTES; `FeedFileError` says why not."""
    limit = conf.MPM_UPLOAD_MAX_BYTES
    try:
        with requests.get(
            url,
            stream=True,
            timeout=(conf.KALEYRA_CONNECT_TIMEOUT, conf.KALEYRA_READ_TIMEOUT),
            headers={"User-Agent": "mpm-campaigns catalog feed import"},
        ) as response:
            if response.status_code != 200:
                raise FeedFileError(
                    f"{url} answered HTTP {response.status_code} {response.reason}: no feed read."
                )
            written = 0
            with into.open("wb") as handle:
                for chunk in response.iter_content(CHUNK_BYTES):
                    written += len(chunk)
                    if written > limit:
                        raise FeedFileError(
                            f"{url} is larger than {limit:,} bytes (MPM_UPLOAD_MAX_BYTES)."
                        )
                    handle.write(chunk)
    except requests.Timeout as exc:
        raise FeedFileError(f"{url} did not answer in time: {exc.__class__.__name__}.") from exc
    except requests.RequestException as exc:
        raise FeedFileError(f"{url} could not be fetched: {exc.__class__.__name__}.") from exc
