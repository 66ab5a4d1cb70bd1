"""foleyserve: serve video-to-audio Foley models to many users at once."""

__version__ = "0.1.0"
