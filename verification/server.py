"""The project's WSGI app served in-process over real HTTP, for the checkers and the tests."""

import threading

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections

# --- the in-process server -------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    # Without TCP_NODELAY every keep-alive answer waits out the client's 40 ms delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass


class _Server(ThreadedWSGIServer):
    def _close_connections(self):
        # A shared connection carries the caller's open transaction: closing it would end it.
        if not self.connections_override:
            super()._close_connections()


class LocalServer:
    """The project's WSGI app on 127.0.0.1:<free port> in a thread, like LiveServerThread.

    Called inside a transaction (the tests), the request threads use the caller's connection:
    the fixture world is not committed, and requests are sequential, so one connection is safe."""

    def __init__(self):
        self.connection = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the thread-local proxy
        self.shared = self.connection.in_atomic_block
        self.server = None
        self.thread = None

    def __enter__(self) -> str:
        override = None
        if self.shared:
            self.connection.inc_thread_sharing()
            override = {DEFAULT_DB_ALIAS: self.connection}
            # The request signals would close the shared connection (and its transaction).
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
        self.server = _Server(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False, connections_override=override)
        self.server.set_app(WSGIHandler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.shared:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
            self.connection.dec_thread_sharing()
