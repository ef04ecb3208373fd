"""What the pipeline carries between its steps: a claimed Message and the answer to its request."""

from dataclasses import dataclass

from campaigns.kaleyra import SendResult


@dataclass(frozen=True)
class Claimed:
    """A Message claimed for sending, with what the sender needs and nothing more."""

    id: int
    to: str
    overrides: dict
    attempts: int


@dataclass(frozen=True)
class Answer:
    """One answer to record: the claimed Message, the request body and the result."""

    message: Claimed
    body: str
    result: SendResult
