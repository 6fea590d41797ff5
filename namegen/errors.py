"""Errors the CLI prints as one `namegen: error:` line, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is the whole story; printed without a traceback."""
