"""The RCoder gateway."""

__version__ = "0.1.0"
