"""Who is calling: `Authorization: Bearer mpm_…`, a token a user created in the app. The call
acts as that user, with the user's own permissions, narrowed to the token's scopes."""

from ninja.errors import HttpError
from ninja.security import HttpBearer

from campaigns import roles
from campaigns.models import ApiToken

UNAUTHORIZED = (
    "A valid API token is needed: send the header Authorization: Bearer <token> with a token "
    "created under API tokens in the app (revoked tokens and inactive users are refused)."
)
WHAT = {roles.VIEW: "read campaigns", roles.SEND: "send campaigns"}


class Forbidden(HttpError):
    """A 403 naming what is missing (`field`: scope or permission) in plain words."""

    def __init__(self, field: str, message: str):
        super().__init__(403, message)
        self.field = field


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str) -> ApiToken | None:
        found = ApiToken.objects.for_secret(token.strip())
        if found is None or not found.user.is_active:
            return None
        found.touch()
        request.user = found.user  # so that has_perm, and the pages' middleware, see the caller
        return found


def need(request, scope: str, permission: str):
    """403 unless the token has `scope` and its user `permission`."""
    token: ApiToken = request.auth
    if scope not in token.scopes:
        raise Forbidden(
            "scope",
            f"This token lacks the “{scope}” scope (it has: {', '.join(token.scopes)}). "
            f"Create a token with the “{scope}” scope under API tokens in the app.",
        )
    if not token.user.has_perm(permission):
        role = roles.role_for([permission])
        ask = f" Ask an administrator to add you to the {role.name} group." if role else ""
        raise Forbidden(
            "permission",
            f"Your account may not {WHAT.get(permission, permission)} ({permission}).{ask}",
        )
