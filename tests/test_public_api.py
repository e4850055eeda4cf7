"""The public face of `import imu_hip`: exported names resolve; live parts load lazily."""

import subprocess
import sys

import imu_hip


def test_every_exported_name_resolves():
    for name in imu_hip.__all__:
        assert getattr(imu_hip, name) is not None, name


def test_import_leaves_ble_session_and_qt_unloaded():
    code = ("import sys, imu_hip; "
            "print(sorted(m for m in ('bleak', 'imu_hip.session', 'PyQt6', 'scipy.signal') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
