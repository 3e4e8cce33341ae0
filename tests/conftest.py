"""Shared fixtures: real servers (tests/servers), configs and apps for service tests."""

pytest_plugins = [
    "tests.servers.smtp",
    "tests.servers.dovecot",
    "tests.servers.postgres",
    "tests.servers.dbselect",
    "tests.fixtures",
]
