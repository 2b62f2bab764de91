"""Placeholder: being written."""

from .base import VendorSimulator


class KaleyraSimulator(VendorSimulator):
    name = "kaleyra"
