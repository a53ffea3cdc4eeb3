from pathlib import Path

from services.feedback.adapters import retention
from services.feedback.entrypoints.web import PREFIXES, build_web
from services.feedback.metrics import refresh_program_metrics
from services.feedback.service_layer.checkins import LOOPS
from services.feedback.service_layer.handlers import SUBSCRIPTIONS, FeedbackDeps
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from services.feedback.settings import FeedbackSettings
from shared.programs import PROGRAMS_TRACK
from shared.replica import PAIRS_TRACK, PARTICIPANTS_TRACK
from shared.purge import purge_loop
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: FeedbackSettings | None = None) -> Service:
    settings = settings or FeedbackSettings()
    return Service(name="feedback", schema="feedback", settings=settings, migrations=MIGRATIONS,
                   subscriptions=SUBSCRIPTIONS, deps=FeedbackDeps(settings), unit_of_work=FeedbackUnitOfWork,
                   replicas=(PROGRAMS_TRACK, PARTICIPANTS_TRACK, PAIRS_TRACK), loops=(refresh_program_metrics, *LOOPS, purge_loop(retention.rules)),
                   web=build_web, web_prefixes=PREFIXES)


def main() -> None:
    build_service().run()
