"""Fixtures of the fault matrix (one place): the stack's own PostgreSQL and Redis for the whole
session, and each test's processes stopped after it."""

import subprocess

import pytest

from hashinsight.tests.faults.stack import PgCluster, RedisServer, Stack, fill_up


@pytest.fixture(scope="session")
def fault_servers():
    pg = PgCluster()
    try:
        pg.migrate()
        redis = RedisServer()
    except BaseException:
        pg.destroy()
        raise
    try:
        yield pg, redis
    finally:
        redis.destroy()
        pg.destroy()


@pytest.fixture
def stack(fault_servers, tmp_path):
    pg, redis = fault_servers
    (tmp_path / "media").mkdir()
    s = Stack(pg=pg, redis=redis, tmp=tmp_path)
    try:
        yield s
    finally:
        s.stop_all()
        if s.redis.proc is None or s.redis.proc.poll() is not None:
            s.redis.start()  # a test that failed while Redis was down
        try:
            pg.scalar("SELECT 1")
        except Exception:
            pg.start()


@pytest.fixture
def tiny_media(stack):
    """MEDIA_ROOT on a 1 MiB tmpfs, filled but for a few KiB (root only: mount)."""
    media = stack.tmp / "media"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(media)], check=True)
    try:
        fill_up(media, leave=8192)  # about 8 KiB left: less than a pack
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)
