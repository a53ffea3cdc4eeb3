import asyncio
from pathlib import Path

from services.notifications.service_layer.dispatcher import Dispatcher
from services.notifications.service_layer.handlers import build_router
from services.notifications.settings import NotificationSettings
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: NotificationSettings | None = None) -> Service:
    settings = settings or NotificationSettings()
    wake = asyncio.Event()  # set when new deliveries commit, so they go out at once

    async def dispatch(service: Service) -> None:
        await Dispatcher(service, settings, wake).run()

    return Service(name="notifications", schema="notifications", settings=settings, migrations=MIGRATIONS,
                   router=build_router(settings, wake), background=[dispatch])


def main() -> None:
    build_service().run()
