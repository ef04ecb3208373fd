"""The HTTP API's own use cases: a user's tokens (created, shown once, revoked) and the purge of
expired Idempotency-Keys. The API's endpoints call the same services as the pages."""

from datetime import timedelta

from django.utils import timezone

from campaigns import conf
from campaigns.models import ApiToken, IdempotencyRecord
from campaigns.models.api import token_hash


def api_token_create(*, user, name: str, can_read: bool, can_send: bool) -> tuple[ApiToken, str]:
    """A new token for `user` and its secret, which is not stored and cannot be shown again."""
    prefix, raw = ApiToken.new_secret()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=token_hash(raw),
        can_read=can_read,
        can_send=can_send,
    )
    return token, raw


def api_token_revoke(*, user, token_id: int) -> bool:
    """Revoke one of `user`'s own tokens; False when it is not theirs or was revoked already.
    Revoked tokens are kept (their names and last use stay readable), never accepted again."""
    return bool(ApiToken.objects.filter(pk=token_id, user=user).revoke())


def idempotency_purge() -> int:
    """Forget Idempotency-Keys older than MPM_API_IDEMPOTENCY_HOURS: an indexed delete."""
    cutoff = timezone.now() - timedelta(hours=conf.MPM_API_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
