"""The product's WSGI application, answering each request with the number of SQL statements it
ran in an X-Bench-Queries header (bench/collector_poll_http_bench.py). Loaded by gunicorn from the
checkout it serves (this file on --pythonpath), so it counts another revision's requests the same
way. Not a bench itself (`make bench` skips bench/_*.py)."""

from django.db import connection

from hashinsight.wsgi import application as django_application


def application(environ, start_response):
    count = 0

    def counting(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    held: dict = {}

    def deferred(status, headers, exc_info=None):
        held.update(status=status, headers=headers, exc_info=exc_info)
        return lambda data: None

    # Django's answer is complete when the application returns (no streaming on these routes);
    # closing it runs request_finished, which may still touch the connection.
    with connection.execute_wrapper(counting):
        body = django_application(environ, deferred)
        try:
            chunks = list(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
    start_response(held["status"], [*held["headers"], ("X-Bench-Queries", str(count))], held["exc_info"])
    return chunks
