"""The service's database: SQLAlchemy 2 models (:mod:`service.db.models`) and engine, sessions and
migrations (:mod:`service.db.session`).

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "Base": "service.db.models",
    "open_database": "service.db.session",
})
