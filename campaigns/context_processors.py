"""Template context shared by every page."""

from django.conf import settings


def sandbox_mode(request):
    """Every page says clearly when sends go to the offline sandbox rather than Kaleyra."""
    return {"kaleyra_sandbox": settings.KALEYRA_SANDBOX}
