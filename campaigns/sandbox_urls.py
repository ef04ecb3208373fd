from django.urls import path

from . import sandbox

urlpatterns = [
    path("v2/<str:sid>/whatsapp/<str:sender>/messages", sandbox.messages_endpoint),
]
