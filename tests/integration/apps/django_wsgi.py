"""The Django test app (same settings and URLs as django_app) as a WSGI application."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

import tests.integration.apps.django_app  # noqa: F401 - configures settings once

app = get_wsgi_application()
