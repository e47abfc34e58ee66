"""The HTTP API and the approval console: ``create_app(settings, agent=None)``."""

from govcx.api.app import create_app
from govcx.api.settings import ServerSettings
from govcx.api.webhooks import verify_signature

__all__ = ["ServerSettings", "create_app", "verify_signature"]
