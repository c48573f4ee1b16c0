"""The gateway's messages, in the client's language: the catalogue and its rules are shared with the
runners and live in rcoder_rpc/messages.py; this module names them for the gateway's code."""

from rcoder_rpc.messages import DEFAULT, LANGUAGES, LOCALES, Phrase, catalogue, current, language, translate

__all__ = ["DEFAULT", "LANGUAGES", "LOCALES", "Phrase", "catalogue", "current", "language", "translate"]
