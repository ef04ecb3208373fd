"""The marketer's composer, at /campaigns/."""

from django.urls import path, register_converter

from campaigns.views import (
    audiences,
    campaigns,
    composer,
    contact_imports,
    contacts,
    results,
    sending,
    tokens,
)


class IdConverter:
    """A row id: digits within the database's bigint, so a longer number is a 404, never an
    overflow in the query."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        if len(value) > 19 or int(value) > 2**63 - 1:
            raise ValueError(value)
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(IdConverter, "id")

app_name = "campaigns"

urlpatterns = [
    path("", campaigns.campaign_list, name="list"),
    path("new/", composer.campaign_create, name="create"),
    path("results/", results.campaign_results, name="results"),
    path("check/", composer.composer_check, name="check"),
    path("products/", composer.product_search, name="product_search"),
    path("products/paste/", composer.product_paste, name="product_paste"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/<id:pk>/", contacts.contact_detail, name="contact"),
    path("contacts/import/", contact_imports.contact_import_upload, name="contact-import-upload"),
    path(
        "contacts/import/<id:import_id>/",
        contact_imports.contact_import_detail,
        name="contact-import",
    ),
    path("contacts/export/", contact_imports.contact_export, name="contact-export"),
    path("tokens/<id:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("lists/", audiences.list_index, name="lists"),
    path("lists/<id:pk>/", audiences.list_detail, name="list-detail"),
    path("lists/<id:pk>/delete/", audiences.list_delete, name="list-delete"),
    path("segments/", audiences.segment_index, name="segments"),
    path("segments/new/", audiences.segment_edit, name="segment-new"),
    path("segments/count/", audiences.segment_count, name="segment-count"),
    path("segments/<id:pk>/", audiences.segment_edit, name="segment-edit"),
    path("segments/<id:pk>/delete/", audiences.segment_delete, name="segment-delete"),
    path("<id:pk>/", campaigns.campaign_detail, name="detail"),
    path("<id:pk>/edit/", composer.campaign_edit, name="edit"),
    path("<id:pk>/clone/", composer.campaign_clone, name="clone"),
    path("<id:pk>/send/", sending.campaign_send, name="send"),
    path("<id:pk>/schedule/", sending.campaign_schedule, name="schedule"),
    path("<id:pk>/uploads/<id:upload_id>/", sending.campaign_upload, name="upload"),
    path(
        "<id:pk>/uploads/<id:upload_id>/invalid.csv",
        sending.campaign_upload_invalid_csv,
        name="upload-invalid",
    ),
    path("<id:pk>/progress/", campaigns.campaign_progress, name="progress"),
    path("<id:pk>/dashboard.json", campaigns.campaign_dashboard, name="dashboard"),
    path("<id:pk>/control/<str:action>/", campaigns.campaign_control, name="control"),
    path("<id:pk>/results.csv", results.campaign_results_csv, name="results_csv"),
]
