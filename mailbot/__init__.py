"""mailbot: supplier escalation and compliment management, driven entirely by email."""

__version__ = "0.1.0"
