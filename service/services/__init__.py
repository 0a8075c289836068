"""Keyword-only service functions, kept apart from the routes: each takes the database
``session`` and what it works on, and raises :class:`service.problems.Problem` or
:class:`corpus.errors.PrecodeInputError` for what the caller must hear about.

One module per resource; the modules are the public API."""

__all__ = ['documents', 'exports', 'imports', 'jobs', 'micro_batching', 'model_loading',
           'project_models', 'projects', 'reviews', 'users']
