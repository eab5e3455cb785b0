from mercator.billing.tables import Base
from mercator.common.bus.tables import metadata as bus_metadata
from mercator.common.migrate import run_env

run_env([Base.metadata, bus_metadata])
