"""Code shared by all medscribe services: contracts, streams, settings, logging."""

__version__ = "0.1.0"
