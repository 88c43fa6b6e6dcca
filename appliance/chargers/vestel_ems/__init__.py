"""The Vestel EVC04 with its network module (or an RTU-capable box), driven through its EMS register map."""

from .client import (  # noqa: F401
    CHARGEPOINT_STATES, VestelClient, WallboxError, WallboxIdentity, WallboxRefused, WallboxStatus,
    quiet_pymodbus_logging,
)
from .charger import EmsCharger  # noqa: F401
from .link import WallboxLink  # noqa: F401
from .registers import REGISTER_MAP, REGISTERS  # noqa: F401
from .schedule import StatusSchedule  # noqa: F401
