"""The wallbox power-management appliance: inverter data in, charging current out."""

__version__ = "0.1.0"
