from pathlib import Path

from services.matching.service_layer.handlers import build_router, expiry_loop
from services.matching.service_layer.matcher import Matcher
from services.matching.settings import MatchingSettings
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: MatchingSettings | None = None) -> Service:
    settings = settings or MatchingSettings()
    matcher = Matcher(settings)

    async def load_index(service: Service) -> None:
        async with service.transaction() as uow:
            await matcher.load(uow)

    async def expiry(service: Service) -> None:
        await expiry_loop(service, matcher, settings)

    service = Service(name="matching", schema="matching", settings=settings, migrations=MIGRATIONS,
                      router=build_router(settings, matcher), on_start=[load_index], background=[expiry])
    service.state["matcher"] = matcher
    return service


def main() -> None:
    build_service().run()
