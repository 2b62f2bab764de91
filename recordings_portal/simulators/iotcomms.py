"""Placeholder: being written."""

from .base import VendorSimulator


class IotcommsSimulator(VendorSimulator):
    name = "iotcomms"
