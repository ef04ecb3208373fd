from django.urls import path

from campaigns.kaleyra.sandbox import views as sandbox

urlpatterns = [
    path("v2/<str:sid>/whatsapp/<str:sender>/messages", sandbox.messages_endpoint),
    path("v2/<str:sid>/whatsapp/<str:waba_id>/message_templates", sandbox.templates_endpoint),
]
