"""gunicorn's settings for the web server (`make serve`, or `gunicorn mpmsite.wsgi` from this
folder): every value can be overridden from the environment, as gunicorn's own
GUNICORN_CMD_ARGS can.

Threads rather than many processes: the pages wait on the database, not the CPU, and the
sandbox's callback poster is one thread per process. The timeout stays under a typical reverse
proxy's 60 s; nothing slow runs in a request (large recipient lists are checked by the worker).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() + 1)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (a leak cannot grow for ever). Each new worker
# loads Django again (about half a second of CPU): at 2,000 that was a tenth of the callback
# benchmark's CPU, at 20,000 a restart every ten seconds per worker at 1,000 callbacks/s. In
# sandbox mode a restart also ends its thread posting the sandbox's callbacks: ones still
# waiting are dropped.
max_requests = 20000
max_requests_jitter = 2000
# Bounded request lines and headers: a giant header never reaches Django.
limit_request_line = 8190
limit_request_fields = 100
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
# The reverse proxy on this machine may set X-Forwarded-*; set it to its address if it is not.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
wsgi_app = "mpmsite.wsgi:application"


def on_starting(server):
    """Refuse to start, before any worker, with settings that cannot work (the system checks
    `runserver` and every command run): the message names the variable to set."""
    import sys

    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management.base import BaseCommand, SystemCheckError

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpmsite.settings")
    try:
        django.setup()
        BaseCommand().check()
    except (ImproperlyConfigured, SystemCheckError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
