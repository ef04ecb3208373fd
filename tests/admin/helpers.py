"""URLs and users the admin tests share."""

from django.contrib.auth.models import Permission, User
from django.urls import reverse

ASHA = "+919876543210"
RAVI = "+919876543211"
US_NUMBER = "+12015550123"


def send_test_url(campaign):
    return reverse("admin:campaigns_campaign_send_test", args=[campaign.pk])


def send_url(campaign):
    return reverse("admin:campaigns_campaign_send", args=[campaign.pk])


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def page_messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def staff_user(*codenames) -> User:
    user = User.objects.create_user("marketer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user
