"""Real concurrency for the tests that claim it (How we build §1): threads, each on its own database
connection, released at one instant by a barrier, whatever they raise collected for the test."""

import threading

from django.db import connection


def run_threads(*targets, timeout: float = 60) -> list[BaseException]:
    """Run each target in its own thread, all starting together; returns what they raised. A thread
    still running after `timeout` seconds fails the test (a deadlock, a lock never released)."""
    barrier, errors = threading.Barrier(len(targets)), []

    def body(target):
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    return errors
