"""What the HTTP API (`campaigns.api`) keeps: each user's tokens, and the answers of calls made
with an Idempotency-Key, so that a retried call is answered again instead of sent again."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

TOKEN_START = "mpm_"
PREFIX_LENGTH = 8
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per token per minute, not per call


def token_hash(raw: str) -> str:
    """The stored form of a token: its SHA-256. A token is 256 random bits, so a plain hash is
    enough (no salt or slow hash: nothing guessable to protect) and it can be looked up."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)

    def for_secret(self, raw: str) -> "ApiToken | None":
        """The live token whose secret is `raw` (with its user), or None: one indexed lookup of
        the hash, so no secret is ever compared character by character."""
        if not raw.startswith(TOKEN_START):
            return None
        return self.live().select_related("user").filter(secret_hash=token_hash(raw)).first()

    def revoke(self) -> int:
        return self.live().update(revoked_at=timezone.now())


class ApiToken(models.Model):
    """A user's key to the HTTP API: shown once when created, stored only as its hash. It acts
    with its user's own permissions, narrowed to its scopes (read and/or send)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What it is for, e.g. the shop's backend.")
    prefix = models.CharField(
        max_length=PREFIX_LENGTH, help_text="Shown in lists to tell tokens apart."
    )
    secret_hash = models.CharField(max_length=64, unique=True)
    can_read = models.BooleanField("read scope", default=True)
    can_send = models.BooleanField("send scope", default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(can_read=True) | Q(can_send=True), name="api_token_has_a_scope"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def new_secret(cls) -> tuple[str, str]:
        """(prefix, the whole token): mpm_<prefix>_<secret>, letters and digits only in the
        prefix so the token splits unambiguously."""
        prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        return prefix, f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"

    @property
    def scopes(self) -> list[str]:
        return [name for name, on in (("read", self.can_read), ("send", self.can_send)) if on]

    def touch(self):
        """Record a use, at most once a minute (a busy integration would otherwise write this
        row on every call)."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_EVERY:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class IdempotencyRecord(models.Model):
    """The first call made with a user's Idempotency-Key: what it asked (method, path, body hash)
    and, once done, what it answered. Inserted before the work, so the unique constraint lets
    only one of several concurrent calls with the same key do it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The answer's JSON, byte for byte.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_record_per_idempotency_key")
        ]

    def __str__(self):
        return f"{self.method} {self.path} ({self.key})"
