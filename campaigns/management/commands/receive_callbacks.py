"""Serve Kaleyra's busy callback URL, POST /callbacks/kaleyra/, with aiohttp (see
`campaigns.callbacks.receiver`): the production path for a thousand callbacks a second and more.
The reverse proxy sends that path here (docs/deploy/mpm-nginx.conf); gunicorn keeps serving the
other callback URLs and the pages. Stops cleanly on SIGTERM/Ctrl-C: requests in flight are
stored and answered first.
"""

import os

from aiohttp import web
from django.core.management.base import BaseCommand, CommandError

from campaigns.callbacks.receiver import PATH, receiver_app
from campaigns.sending.sender import new_event_loop


class Command(BaseCommand):
    help = f"Receive Kaleyra's callbacks at POST {PATH} (the busy URL) with aiohttp."

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind",
            default=os.environ.get("MPM_CALLBACK_BIND", "127.0.0.1:8001"),
            help="HOST:PORT to listen on (default MPM_CALLBACK_BIND, else 127.0.0.1:8001).",
        )

    def handle(self, *args, bind, **options):
        host, sep, port = bind.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise CommandError(f"--bind must be HOST:PORT, not {bind!r}.", returncode=2)
        self.stdout.write(f"Receiving Kaleyra's callbacks on http://{bind}{PATH} (Ctrl-C stops).")
        self.stdout.flush()
        web.run_app(
            receiver_app(),
            host=host.strip("[]") or "127.0.0.1",
            port=int(port),
            access_log=None,  # a log line per callback would cost more than storing it
            print=None,
            shutdown_timeout=30,
            loop=new_event_loop(),
        )
