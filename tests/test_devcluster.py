"""core.devcluster: the settings a production PostgreSQL runs with come from one place, the postgres
service's command in docker-compose.yml (what `bench/command_poll_bench.py --own-cluster` starts its
cluster with, and what every bench run's settings are compared against)."""

import pytest
import yaml

from core import devcluster

DEFAULTS = {"autovacuum": "on", "fsync": "on", "synchronous_commit": "on"}


def _compose(tmp_path, command) -> object:
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump({"services": {"postgres": {"command": command}}}))
    return path


def test_production_settings_are_the_compose_files_postgres_command():
    command = yaml.safe_load(devcluster.COMPOSE_FILE.read_text())["services"]["postgres"]["command"]
    settings = devcluster.production_settings()
    assert settings == dict(arg.split("=", 1) for arg in command[2::2])
    assert {"max_wal_size", "wal_compression", "checkpoint_timeout", "checkpoint_completion_target"} <= set(settings)
    assert devcluster.expected_settings() == DEFAULTS | settings


def test_another_compose_file_gives_other_settings_and_nothing_else_is_added(tmp_path):
    path = _compose(tmp_path, ["postgres", "-c", "max_wal_size=2GB", "-c", "autovacuum=off"])
    assert devcluster.production_settings(path) == {"max_wal_size": "2GB", "autovacuum": "off"}
    # what the compose file sets wins over the defaults production keeps
    expected = {"fsync": "on", "synchronous_commit": "on", "max_wal_size": "2GB", "autovacuum": "off"}
    assert devcluster.expected_settings(path) == expected


def test_a_postgres_command_of_another_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="postgres -c name=value"):
        devcluster.production_settings(_compose(tmp_path, ["postgres", "--max_wal_size=2GB"]))


def test_settings_are_compared_by_value_not_by_spelling():
    expected = {"max_wal_size": "8GB", "checkpoint_timeout": "15min", "wal_compression": "lz4", "autovacuum": "on"}
    same = {"max_wal_size": "8192MB", "checkpoint_timeout": "900s", "wal_compression": "LZ4", "autovacuum": "on"}
    assert devcluster.settings_differing(same, expected) == []
    dev = {"max_wal_size": "1GB", "checkpoint_timeout": "5min", "wal_compression": "off"}
    assert devcluster.settings_differing(dev, expected) == [
        "max_wal_size = 1GB (production: 8GB)",
        "checkpoint_timeout = 5min (production: 15min)",
        "wal_compression = off (production: lz4)",
        "autovacuum = None (production: on)",
    ]
