"""The marketer's composer, at /campaigns/."""

from django.urls import path

from campaigns.views import campaigns, composer, results, sending

app_name = "campaigns"

urlpatterns = [
    path("", campaigns.campaign_list, name="list"),
    path("new/", composer.campaign_create, name="create"),
    path("results/", results.campaign_results, name="results"),
    path("check/", composer.composer_check, name="check"),
    path("products/", composer.product_search, name="product_search"),
    path("<int:pk>/", campaigns.campaign_detail, name="detail"),
    path("<int:pk>/edit/", composer.campaign_edit, name="edit"),
    path("<int:pk>/clone/", composer.campaign_clone, name="clone"),
    path("<int:pk>/send/", sending.campaign_send, name="send"),
    path("<int:pk>/uploads/<int:upload_id>/", sending.campaign_upload, name="upload"),
    path("<int:pk>/progress/", campaigns.campaign_progress, name="progress"),
    path("<int:pk>/dashboard.json", campaigns.campaign_dashboard, name="dashboard"),
    path("<int:pk>/control/<str:action>/", campaigns.campaign_control, name="control"),
    path("<int:pk>/results.csv", results.campaign_results_csv, name="results_csv"),
]
