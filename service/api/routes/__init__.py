"""One router per resource (each module's ``router``), mounted by ``service.api.app``; the modules
are the public API"""

__all__ = ['documents', 'exports', 'health', 'jobs', 'projects', 'reviews', 'suggest', 'users']
