"""The container image installs the project as a wheel: SQL migrations, message catalogues, certificate
fonts and the dashboard's static files (vendored libraries and fonts with their licences) must be in it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_migrations_and_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("tandem-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in ROOT.glob("services/*/adapters/migrations/*.sql")}
    expected |= {str(p.relative_to(ROOT)) for p in ROOT.glob("shared/sql/*/*.sql")}
    # Notifications' gettext catalogues (compiled when first used) and the certificate fonts, licences included.
    catalogues = {str(p.relative_to(ROOT)) for p in ROOT.glob("services/notifications/locale/**/*.po*")}
    assert {"services/notifications/locale/tandem.pot", "services/notifications/locale/ja/LC_MESSAGES/tandem.po",
            "services/notifications/locale/zh_Hans/LC_MESSAGES/tandem.po"} <= catalogues
    fonts = {str(p.relative_to(ROOT)) for p in ROOT.glob("services/notifications/fonts/*")}
    assert {"services/notifications/fonts/ipaexg.ttf", "services/notifications/fonts/LICENSE-IPAexGothic.txt",
            "services/notifications/fonts/wqy-microhei.ttc", "services/notifications/fonts/DejaVuSerif.ttf"} <= fonts
    expected |= catalogues | fonts | {"services/notifications/i18n/catalogues.py",  # the packages that read them
                                      "services/notifications/domain/messages/participants.py"}
    web = ROOT / "services" / "feedback" / "entrypoints" / "web"
    dashboard = {str(p.relative_to(ROOT)) for p in [*web.glob("templates/*"), *web.rglob("static/**/*")] if p.is_file()}
    assert {"services/feedback/entrypoints/web/static/vendor/htmx/LICENSE",
            "services/feedback/entrypoints/web/static/vendor/uplot/uPlot.iife.min.js",
            "services/feedback/entrypoints/web/templates/program.html"} <= dashboard
    expected |= dashboard
    assert len(expected) >= 7
    assert expected <= names, sorted(expected - names)
