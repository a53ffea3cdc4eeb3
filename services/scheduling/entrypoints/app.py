import asyncio
from pathlib import Path

from services.scheduling.service_layer.handlers import build_router
from services.scheduling.service_layer.timers import reminder_loop, series_loop
from services.scheduling.settings import SchedulingSettings
from shared.service import Service

MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def build_service(settings: SchedulingSettings | None = None) -> Service:
    settings = settings or SchedulingSettings()
    wake_reminders = asyncio.Event()  # set when meetings (and so reminders) change

    async def reminders(service: Service) -> None:
        await reminder_loop(service, settings, wake_reminders)

    async def series(service: Service) -> None:
        await series_loop(service, settings)

    return Service(name="scheduling", schema="scheduling", settings=settings, migrations=MIGRATIONS,
                   router=build_router(settings, wake_reminders), background=[reminders, series])


def main() -> None:
    build_service().run()
