from pathlib import Path

from services.notifications.adapters import retention
from services.notifications.entrypoints.web import PREFIXES, build_web
from services.notifications.service_layer.handlers import (
    SUBSCRIPTIONS,
    NotificationsDeps,
)
from services.notifications.service_layer.loops import LOOPS
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from services.notifications.settings import NotificationSettings
from shared.loops import Wakeup
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.purge import purge_loop
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: NotificationSettings | None = None) -> Service:
    settings = settings or NotificationSettings()
    return Service(name="notifications", schema="notifications", settings=settings, migrations=MIGRATIONS,
                   subscriptions=SUBSCRIPTIONS, deps=NotificationsDeps(settings, wake=Wakeup()),
                   unit_of_work=NotificationsUnitOfWork, replicas=(PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK), loops=(*LOOPS, purge_loop(retention.rules)),
                   web=build_web, web_prefixes=PREFIXES)


def main() -> None:
    build_service().run()
