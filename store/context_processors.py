"""Put the signed-in user's theme stylesheet on every page (base.html links it)."""

from django.http import HttpRequest

from .selectors import active_theme_stylesheet_url


def active_theme(request: HttpRequest) -> dict[str, str]:
    """One query for signed-in users, none for everyone else."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    url = active_theme_stylesheet_url(user=user)
    return {"theme_stylesheet_url": url} if url else {}
