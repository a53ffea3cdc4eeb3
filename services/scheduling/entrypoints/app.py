from pathlib import Path

from services.scheduling.adapters import retention
from services.scheduling.service_layer.handlers import SUBSCRIPTIONS, SchedulingDeps
from services.scheduling.service_layer.loops import reminder_loop, series_loop
from services.scheduling.service_layer.unit_of_work import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings
from shared.loops import Wakeup
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.purge import purge_loop
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: SchedulingSettings | None = None) -> Service:
    settings = settings or SchedulingSettings()
    return Service(name="scheduling", schema="scheduling", settings=settings, migrations=MIGRATIONS,
                   subscriptions=SUBSCRIPTIONS, deps=SchedulingDeps(settings, wake_reminders=Wakeup()),
                   unit_of_work=SchedulingUnitOfWork, replicas=(PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK),
                   loops=[reminder_loop, series_loop, purge_loop(retention.rules)])


def main() -> None:
    build_service().run()
