"""Placeholder: being written."""

from .base import VendorSimulator


class KoreaiSimulator(VendorSimulator):
    name = "koreai"
