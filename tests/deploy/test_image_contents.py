"""The container image installs the project as a wheel: SQL migrations and templates must be in it."""

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
    expected |= {str(p.relative_to(ROOT)) for p in ROOT.glob("shared/sql/*.sql")}
    expected |= {str(p.relative_to(ROOT)) for p in ROOT.glob("services/notifications/domain/templates/*.toml")}
    assert len(expected) >= 7
    assert expected <= names, sorted(expected - names)
