from mercator.common.bus.tables import metadata as bus_metadata
from mercator.common.migrate import run_env
from mercator.notifications.tables import Base

run_env([Base.metadata, bus_metadata])
