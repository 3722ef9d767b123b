"""KATO: Knowledge Abstraction for Traceable Outcomes."""

__version__ = "4.0.0"
API_COMPAT_VERSION = "3.10.1"
