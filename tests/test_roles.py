"""The roles a team starts with: the groups migration 0007 makes (reversible, safe to run again),
what a Viewer and a Marketer can do, and the permission page a refused user sees."""

import re

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from campaigns import roles
from campaigns.models import Campaign, Message
from tests.admin.helpers import send_test_url, staff_user
from tests.support.composer import composer_data
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db

ASHA = "+919876543210"
LIST = reverse("campaigns:list")


def url(name, *args) -> str:
    return reverse(f"campaigns:{name}", args=args)


def group_permissions(name: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=name).permissions.select_related("content_type")
    }


def member_of(role: roles.Role, username: str = "member") -> User:
    user = User.objects.create_user(username, password="x")
    user.groups.add(Group.objects.get(name=role.name))
    return user


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


# --- the groups -----------------------------------------------------------------------------------


def test_the_migrated_database_has_both_groups_with_exactly_their_permissions():
    assert group_permissions("Viewers") == set(roles.VIEWERS.permissions)
    assert group_permissions("Marketers") == set(roles.MARKETERS.permissions)
    # Viewers only read; Marketers do all that and compose and send, but delete no campaign.
    assert all(".view_" in perm for perm in group_permissions("Viewers"))
    assert group_permissions("Viewers") < group_permissions("Marketers")
    assert {roles.ADD, roles.CHANGE, roles.SEND} <= group_permissions("Marketers")
    assert "campaigns.delete_campaign" not in group_permissions("Marketers")


def test_the_migration_is_undone_by_removing_the_groups_and_can_run_again():
    migration = MigrationLoader(connection).get_migration("campaigns", "0007_roles")
    (operation,) = migration.operations
    viewer = member_of(roles.VIEWERS)
    extra = Permission.objects.get(codename="view_optout")
    Group.objects.get(name="Viewers").permissions.add(extra)

    operation.code(django_apps, None)  # once more: nothing doubled, nothing taken back
    assert Group.objects.filter(name__in=["Viewers", "Marketers"]).count() == 2
    assert group_permissions("Viewers") == {*roles.VIEWERS.permissions, "campaigns.view_optout"}
    assert viewer.groups.get().name == "Viewers"

    operation.reverse_code(django_apps, None)
    assert not Group.objects.filter(name__in=["Viewers", "Marketers"]).exists()
    assert not User.objects.get(pk=viewer.pk).has_perm(roles.VIEW)

    operation.code(django_apps, None)
    # with the later migrations that add to the roles (lists and segments)
    later = MigrationLoader(connection).get_migration("campaigns", "0019_audience_roles")
    later.operations[0].code(django_apps, None)
    assert group_permissions("Marketers") == set(roles.MARKETERS.permissions)


def test_the_migration_makes_the_permissions_when_none_exist_yet():
    """On a fresh database the migration runs before Django makes any permission."""
    Group.objects.all().delete()
    Permission.objects.filter(content_type__app_label="campaigns").delete()
    roles.create_groups(django_apps)
    assert group_permissions("Marketers") == set(roles.MARKETERS.permissions)


# --- what each role can do ------------------------------------------------------------------------


@pytest.fixture
def sent_campaign():
    campaign = make_campaign(name="Diwali sale")
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.COMPLETED)
    Message.objects.create(campaign=campaign, to=ASHA, state=Message.State.ACCEPTED)
    return campaign


def test_a_viewer_reads_campaigns_and_results_but_is_sent_to_marketers_to_change_them(
    client, provider, sent_campaign
):
    client.force_login(member_of(roles.VIEWERS))
    draft = make_campaign()
    for page in (
        LIST,
        url("results"),
        url("detail", sent_campaign.pk),
        url("dashboard", sent_campaign.pk),
        url("progress", sent_campaign.pk),
        url("results_csv", sent_campaign.pk),
    ):
        assert client.get(page).status_code == 200, page

    for refused in (
        client.get(url("create")),
        client.get(url("edit", draft.pk)),
        client.post(url("edit", draft.pk), composer_data(draft, action="test", to=ASHA)),
        client.get(url("send", draft.pk)),
        client.post(url("send", draft.pk), {"numbers": ASHA, "confirm": "yes"}),
        client.post(url("control", sent_campaign.pk, "cancel")),
    ):
        assert refused.status_code == 403
        page = refused.content.decode()
        assert "This needs the <strong>Marketers</strong> group" in page
        assert LIST in hrefs(page)  # a way back to what a Viewer can open
    assert len(provider.requests) == 0
    assert Campaign.objects.get(pk=sent_campaign.pk).state == Campaign.State.COMPLETED


def test_a_marketer_composes_tests_and_sends(client, provider, django_capture_on_commit_callbacks):
    provider.answer()
    client.force_login(member_of(roles.MARKETERS))
    original = make_campaign()
    assert client.get(url("create")).status_code == 200
    assert client.get(url("product_search"), {"q": "sku"}).status_code == 200
    assert client.post(url("check"), composer_data(original)).status_code == 200

    created = client.post(url("create"), composer_data(original, name="Marketer's draft"))
    draft = Campaign.objects.get(name="Marketer's draft")
    assert created["Location"] == url("edit", draft.pk)
    tested = client.post(
        url("edit", draft.pk),
        composer_data(draft, action="test", to=ASHA),
        HTTP_ACCEPT="application/json",
    )
    assert tested.json()["accepted"] is True
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("send", draft.pk), {"numbers": ASHA, "confirm": "yes"})
    assert len(provider.requests) == 2
    assert Message.objects.filter(campaign=draft, is_test=False).get().state == (
        Message.State.ACCEPTED
    )
    assert Campaign.objects.get(pk=draft.pk).state == Campaign.State.COMPLETED


def test_a_marketer_made_staff_edits_and_tests_a_draft_in_the_admin(client, provider, campaign):
    provider.answer()
    user = member_of(roles.MARKETERS)
    User.objects.filter(pk=user.pk).update(is_staff=True)
    client.force_login(user)
    change = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert change.status_code == 200 and send_test_url(campaign) in change.content.decode()
    picker = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "campaigns", "model_name": "campaign", "field_name": "thumbnail_product"},
    )
    assert picker.status_code == 200 and picker.json()["results"]
    client.post(send_test_url(campaign), {"to": ASHA})
    assert len(provider.requests) == 1


# --- the permission page --------------------------------------------------------------------------


def test_a_new_user_signs_in_and_is_told_what_to_ask_for_without_a_loop(client):
    User.objects.create_user("newcomer", password="x")
    response = client.post(reverse("login"), {"username": "newcomer", "password": "x"}, follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert response.status_code == 403
    page = response.content.decode()
    assert "This needs the <strong>Viewers</strong> group" in page
    assert "(<strong>newcomer</strong>)" in page
    for role in roles.ROLES:
        assert f'<th scope="row">{role.name}</th><td>{role.can}</td>' in page
    assert LIST not in hrefs(page) and "/" not in hrefs(page)  # nothing leads back here
    assert reverse("admin:index") not in hrefs(page)  # not staff: the admin would refuse too


def test_the_way_out_logs_out(client):
    """Log out is a POST with the page's CSRF token (Django 5 logs out on POST only)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("newcomer", password="x"))
    page = client.get(LIST).content.decode()
    form = re.search(r'<form method="post" action="([^"]+)">\s*<input[^>]*value="([^"]+)"', page)
    assert form and form[1] == reverse("logout")
    assert client.post(form[1], {"csrfmiddlewaretoken": form[2]}).status_code == 302
    assert client.get(LIST)["Location"].startswith(reverse("login"))


def test_staff_refused_in_the_admin_get_the_page_with_a_way_to_the_admin(client, campaign):
    client.force_login(staff_user("view_campaign"))
    response = client.get(send_test_url(campaign))
    assert response.status_code == 403
    page = response.content.decode()
    assert "to the group you need" in page
    assert reverse("admin:index") in hrefs(page) and LIST in hrefs(page)
