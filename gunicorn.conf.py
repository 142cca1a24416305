"""gunicorn settings, all from the environment (see .env.example)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
accesslog = None  # request logs come from django-structlog, as JSON with the request id
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn ≥ 25.1 opens a control socket (for `gunicornc`) at ONE path per user by default
# ($XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl): a second gunicorn of the same user
# on the box (the tests', a second instance, a restart overlapping the old master) unlinks the
# first one's socket and binds its own, and unlinks it again on exit, so `gunicornc` reaches the
# wrong master or none. Off, unless GUNICORN_CONTROL_SOCKET names a path for this instance alone.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


def on_starting(server):
    # prometheus-client multiprocess mode: sample files left by a previous run would be added to
    # this run's figures, so the directory starts empty (created if missing).
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    # prometheus-client multiprocess mode: drop a dead worker's live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker):
    # A worker whose master dies (kill -9, OOM) quits at once instead of serving on for up to
    # WEB_TIMEOUT / 2 with the listening socket held, which would stop the master the supervisor
    # starts next from binding HOST:PORT (Linux: the parent-death signal; elsewhere nothing).
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGQUIT))  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def post_worker_init(worker):
    # Move everything imported at start-up (Django, the app) out of the collector's reach, so a
    # full collection only walks what requests allocate — fewer long pauses under load.
    import gc

    gc.freeze()
