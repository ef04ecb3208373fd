"""WSGI entry point (gunicorn mpmsite.wsgi; see gunicorn.conf.py).

The system checks run before the first request, as `runserver` and every command run them: a
server with settings that cannot work (live mode without Kaleyra's credentials, a value out of
its limits) refuses to start and names the variable, instead of serving a broken app. (Under
gunicorn, gunicorn.conf.py has checked once already, before any worker; this covers any other
WSGI server.)
"""

import os

from django.core.management.base import BaseCommand
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpmsite.settings")

application = get_wsgi_application()
BaseCommand().check()  # raises SystemCheckError, printing every problem, when one is serious
