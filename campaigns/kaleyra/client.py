"""Posts request bodies to Kaleyra. It never retries a POST by itself (a retried request that had
reached Kaleyra is a second message); retries are the engine's decision. It knows nothing of the ORM."""

import time

import requests

from campaigns.kaleyra.config import KaleyraConfig, request_headers
from campaigns.kaleyra.results import Outcome, SendResult, elapsed_ms, parse_answer


class KaleyraClient:
    """Posts request bodies to one sender's messages endpoint over one pooled session."""

    def __init__(self, config: KaleyraConfig):
        self.config = config
        self.session = requests.Session()
        self.session.headers.update(request_headers(config.api_key))

    def send(self, body: bytes) -> SendResult:
        started = time.monotonic()
        try:
            response = self.session.post(
                self.config.messages_url,
                data=body,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.ConnectTimeout:
            return SendResult(Outcome.CONNECTION, duration_ms=elapsed_ms(started))
        except requests.Timeout:
            return SendResult(Outcome.TIMEOUT, duration_ms=elapsed_ms(started))
        except requests.ConnectionError as exc:
            # A connection that broke after the request was written may have reached Kaleyra.
            outcome = Outcome.TIMEOUT if _request_was_sent(exc) else Outcome.CONNECTION
            return SendResult(outcome, duration_ms=elapsed_ms(started))
        except requests.RequestException:
            return SendResult(Outcome.CONNECTION, duration_ms=elapsed_ms(started))
        return parse_answer(response.status_code, response.content, elapsed_ms(started))

    def close(self):
        self.session.close()


def _request_was_sent(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "RemoteDisconnected" in text or "Connection aborted" in text
