from pathlib import Path

from services.matching.adapters import retention
from services.matching.service_layer.handlers import SUBSCRIPTIONS
from services.matching.service_layer.indexes import warm_up
from services.matching.service_layer.loops import LOOPS
from services.matching.service_layer.matchmaking import MatchingDeps
from services.matching.service_layer.unit_of_work import MatchingUnitOfWork
from services.matching.settings import MatchingSettings
from shared.programs import PROGRAMS_TRACK
from shared.replica import PARTICIPANTS_TRACK
from shared.purge import purge_loop
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: MatchingSettings | None = None) -> Service[MatchingDeps, MatchingUnitOfWork]:
    settings = settings or MatchingSettings()
    return Service(name="matching", schema="matching", settings=settings, migrations=MIGRATIONS,
                   subscriptions=SUBSCRIPTIONS, deps=MatchingDeps.from_settings(settings),
                   unit_of_work=MatchingUnitOfWork, replicas=(PROGRAMS_TRACK, PARTICIPANTS_TRACK), on_start=[warm_up],
                   loops=(*LOOPS, purge_loop(retention.rules)))


def main() -> None:
    build_service().run()
