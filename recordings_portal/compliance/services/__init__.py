"""Compliance writes: masking, deletion, legal hold, retention, and carrying them to vendors."""


class Refused(Exception):
    """The action is not allowed now; the message says why, in words for the person asking."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
