"""Template context shared by every page."""

from campaigns import conf


def sandbox_mode(request):
    """Every page says clearly when sends go to the offline sandbox rather than Kaleyra."""
    return {"kaleyra_sandbox": conf.KALEYRA_SANDBOX}
