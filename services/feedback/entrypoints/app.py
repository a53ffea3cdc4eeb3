from pathlib import Path

from services.feedback.service_layer.handlers import build_router
from services.feedback.settings import FeedbackSettings
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: FeedbackSettings | None = None) -> Service:
    settings = settings or FeedbackSettings()
    return Service(name="feedback", schema="feedback", settings=settings, migrations=MIGRATIONS,
                   router=build_router(settings))


def main() -> None:
    build_service().run()
