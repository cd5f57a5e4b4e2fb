"""PDF copies of documents, rendered from the same templates as their pages.

WeasyPrint turns the document's HTML and its print stylesheet into an A4
PDF. It needs the Pango libraries of the operating system; where they are
missing, ``pdf_available()`` says so, the dashboard offers the HTML page
alone and e-mails go without an attachment.
"""

from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

STYLESHEET = Path(settings.BASE_DIR) / "static" / "css" / "documents.css"


@cache
def pdf_available() -> bool:
    """True when WeasyPrint and its system libraries load."""
    try:
        import weasyprint  # noqa: F401
    except OSError:  # the Pango/HarfBuzz libraries are missing
        return False
    return True


def render_pdf(*, template: str, context: dict[str, Any]) -> bytes:
    """The template rendered for print, as PDF bytes."""
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    html = render_to_string(template, {**context, "for_pdf": True})
    # Documents load nothing from anywhere: the stylesheet is handed over
    # and only inline data: images resolve.
    fetcher = URLFetcher(allowed_protocols=["data"])
    return HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=STYLESHEET.read_text(), url_fetcher=fetcher)]
    )
