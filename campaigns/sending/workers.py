"""Who is sending: each engine run's id (`host:pid:run`) is written on the Messages it claims, so
the next run can tell a crashed run's claims from a slow one's."""

import os
import socket
import uuid
from datetime import datetime, timedelta

from django.utils import timezone

from campaigns import conf

HOST = socket.gethostname()
_active_runs: set[str] = set()  # this process's engine runs that are still going


def new_worker_id() -> str:
    run = uuid.uuid4().hex[:12]
    _active_runs.add(run)
    return f"{HOST}:{os.getpid()}:{run}"


def worker_finished(worker_id: str):
    _active_runs.discard(worker_id.rpartition(":")[2])


def worker_alive(worker_id: str) -> bool:
    """False only when we know the worker is gone: a run of this process that ended, or a
    process of this machine that no longer exists. Other machines' workers count as alive."""
    host, _, rest = worker_id.partition(":")
    pid_text, _, run = rest.partition(":")
    if host != HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return run in _active_runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_before(now: datetime | None = None) -> datetime:
    """Claims older than this belong to a worker that is gone (no answer can still arrive)."""
    lease = conf.KALEYRA_CONNECT_TIMEOUT + conf.KALEYRA_READ_TIMEOUT + conf.MPM_CLAIM_LEASE
    return (now or timezone.now()) - timedelta(seconds=lease)
