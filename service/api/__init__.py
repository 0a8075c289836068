"""The HTTP API: the app factory, its dependencies and schemas, one router per resource in
``routes``.

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "create_app": "service.api.app",
})
