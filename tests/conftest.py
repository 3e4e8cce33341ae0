"""Shared fixtures: real servers (tests/servers), configs and apps for service tests."""

pytest_plugins = ["tests.servers.smtp", "tests.servers.dovecot", "tests.fixtures"]
