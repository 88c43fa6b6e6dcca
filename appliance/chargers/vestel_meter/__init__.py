"""The basic Vestel EVC04 (no network module), driven by answering its energy-meter polls on RS-485
and reading its grant from the CN28 LOG console (meter emulation)."""

from .charger import DIP_LIMITS_A, MeterCharger  # noqa: F401
