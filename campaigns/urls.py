"""The marketer's composer, at /campaigns/."""

from django.urls import path

from campaigns.views import campaigns as views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("results/", views.campaign_results, name="results"),
    path("check/", views.composer_check, name="check"),
    path("products/", views.product_search, name="product_search"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/clone/", views.campaign_clone, name="clone"),
    path("<int:pk>/send/", views.campaign_send, name="send"),
    path("<int:pk>/progress/", views.campaign_progress, name="progress"),
    path("<int:pk>/dashboard.json", views.campaign_dashboard, name="dashboard"),
    path("<int:pk>/control/<str:action>/", views.campaign_control, name="control"),
    path("<int:pk>/results.csv", views.campaign_results_csv, name="results_csv"),
]
