"""Kaleyra's callbacks, included at /callbacks/kaleyra/ (the views; `auth` says who may post)."""

from django.urls import path

from campaigns.callbacks import views as webhooks

urlpatterns = [
    path("", webhooks.KaleyraCallbackView.as_view(), name="kaleyra-callback"),
    path("templates/", webhooks.TemplateCallbackView.as_view(), name="kaleyra-template-callback"),
    path("dynamic/", webhooks.DynamicCallbackView.as_view(), name="kaleyra-dynamic-callback"),
    path("token/", webhooks.token_view, name="kaleyra-callback-token"),
]
