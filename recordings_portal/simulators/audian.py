"""Placeholder: being written."""

from .base import VendorSimulator


class AudianSimulator(VendorSimulator):
    name = "audian"
