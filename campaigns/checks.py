"""System checks for unsafe or useless configuration (`manage.py check`), with stable ids."""

import functools

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from campaigns import conf
from campaigns.callbacks.auth import configured_auth
from campaigns.kaleyra import config_for, config_from_settings
from campaigns.kaleyra.client import check_config
from campaigns.models import Sender
from campaigns.services.senders import sender_account


@register()
def settings_limits_check(app_configs, **kwargs):
    """Every KALEYRA_* / MPM_* value outside its limits (campaigns/conf.py), all at once."""
    return [
        Error(problem, hint="Fix it in the environment (see .env.example).", id="campaigns.E001")
        for problem in conf.problems()
    ]


def once_settings_are_valid(check):
    """Checks that read settings wait until E001 finds none out of its limits (reading one
    would raise; E001 already names it)."""

    @functools.wraps(check)
    def checked(app_configs, **kwargs):
        return [] if conf.problems() else check(app_configs, **kwargs)

    return checked


def active_senders() -> list[Sender] | None:
    """The active senders; None when the database cannot say (before `migrate` made the table,
    with the database away, or where a test may not use it): the settings are checked then."""
    try:
        return list(Sender.objects.active())
    except (DatabaseError, RuntimeError):  # RuntimeError: pytest-django's database blocker
        return None


@register()
@once_settings_are_valid
def kaleyra_settings_check(app_configs, **kwargs):
    """Refuse to start in live mode with settings that cannot send (the server and every command
    stop, naming the variable); in sandbox mode, a warning is enough. Campaigns without a sender
    use the active default sender, or the KALEYRA_* settings when there is none: only then must
    the settings be able to send."""
    senders = active_senders() or []
    problems = sender_key_problems(senders)
    if any(sender.is_default for sender in senders):
        return problems
    return problems + settings_problems()


def sender_key_problems(senders: list[Sender]) -> list:
    """In live mode, each active sender whose key variable is unset or empty (or whose account
    cannot send), naming the variable and never its value."""
    if conf.KALEYRA_SANDBOX:
        return []  # the sandbox takes its own key
    problems = []
    for sender in senders:
        account = sender_account(sender)
        try:
            check_config(config_for(account))
        except ImproperlyConfigured as exc:
            problems.append(
                Error(
                    f"Nothing can be sent from {sender}: {exc}",
                    hint=f"Set {account.api_key_variable} in the environment of the server and "
                    "of every worker (the key is never stored in the database) and check the "
                    "sender's SID and region in the admin, or make the sender inactive.",
                    id="campaigns.E003",
                )
            )
    return problems


def settings_problems() -> list:
    try:
        check_config(config_from_settings())
    except ImproperlyConfigured as exc:
        if conf.KALEYRA_SANDBOX:
            return [
                Warning(
                    f"Nothing can be sent to the sandbox: {exc}",
                    hint="Fix KALEYRA_SANDBOX_BASE_URL (see .env.example).",
                    id="campaigns.W003",
                )
            ]
        return [
            Error(
                f"Nothing can be sent: {exc}",
                hint="Set the KALEYRA_* variables (see .env.example), or KALEYRA_MODE=sandbox "
                "to try the app offline.",
                id="campaigns.E002",
            )
        ]
    return []


@register()
@once_settings_are_valid
def callback_auth_check(app_configs, **kwargs):
    """Kaleyra's callbacks need credentials; half-configured ones are a likely mistake."""
    auth = configured_auth()
    problems = []
    if not auth.configured and not conf.KALEYRA_SANDBOX:
        problems.append(
            Warning(
                "Kaleyra callbacks are refused: no callback authentication is configured, so "
                "delivery statuses, replies (STOP) and orders never reach the app.",
                hint="Set KALEYRA_CALLBACK_USERNAME and KALEYRA_CALLBACK_PASSWORD (Basic auth), "
                "KALEYRA_CALLBACK_HEADER and KALEYRA_CALLBACK_TOKEN (a header secret), or "
                "KALEYRA_CALLBACK_CLIENT_ID and KALEYRA_CALLBACK_CLIENT_SECRET (Advanced auth).",
                id="campaigns.W001",
            )
        )
    halves = [
        ("KALEYRA_CALLBACK_USERNAME", auth.usernames, "KALEYRA_CALLBACK_PASSWORD", auth.passwords),
        ("KALEYRA_CALLBACK_HEADER", auth.header, "KALEYRA_CALLBACK_TOKEN", auth.tokens),
        (
            "KALEYRA_CALLBACK_CLIENT_ID",
            auth.client_ids,
            "KALEYRA_CALLBACK_CLIENT_SECRET",
            auth.client_secrets,
        ),
    ]
    for name, value, other_name, other in halves:
        if bool(value) != bool(other):
            given, missing = (name, other_name) if value else (other_name, name)
            problems.append(
                Warning(
                    f"{given} is set but {missing} is not: that way of authenticating Kaleyra's "
                    "callbacks is off.",
                    hint=f"Set {missing} too, or unset {given}.",
                    id="campaigns.W002",
                )
            )
    return problems


@register()
@once_settings_are_valid
def sandbox_callbacks_check(app_configs, **kwargs):
    """With HTTPS enforced, the sandbox's callbacks to a plain-HTTP SITE_URL are redirected and
    lost: the dashboard would never move."""
    if not (conf.KALEYRA_SANDBOX and conf.MPM_SANDBOX_CALLBACKS):
        return []
    target = conf.MPM_SANDBOX_CALLBACK_URL or conf.SITE_URL
    if getattr(settings, "SECURE_SSL_REDIRECT", False) and target.startswith("http://"):
        return [
            Warning(
                f"The sandbox posts its callbacks to {target}, but SECURE_SSL_REDIRECT sends "
                "plain-HTTP requests to HTTPS: they would be lost.",
                hint="Set SITE_URL (or MPM_SANDBOX_CALLBACK_URL) to the app's https:// address, "
                "or DJANGO_SSL_REDIRECT=false for a local trial.",
                id="campaigns.W004",
            )
        ]
    return []
