"""Running precode for people: the command line, the HTTP API, the job worker, the database.

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "app": "service.cli",
    "create_app": "service.api.app",
    "Settings": "service.settings",
    "get_settings": "service.settings",
})
