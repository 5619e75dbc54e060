"""The papers site (issue 3): server-rendered pages and a JSON API over the shared core."""

from paperfeed.web.app import create_app
from paperfeed.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
