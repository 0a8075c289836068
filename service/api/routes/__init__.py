"""One router per resource, mounted by ``service.api.app``: each ``<resource>_routes`` module has a
``router``. The modules are the public API."""

__all__ = ["documents_routes", "exports_routes", "health_routes", "jobs_routes", "pages_routes",
           "projects_routes", "reviews_routes", "suggest_routes", "users_routes"]
