"""Loading the Qt binding for the viewer: PyQt6 through pyqtgraph, or a one-line error."""

from __future__ import annotations

import os
import sys
from types import ModuleType

from imu_hip.model import ImuHipError

INSTALL_HINT = "pip install imu-hip[viewer]"


def load_qt() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    """Import (QtCore, QtGui, QtWidgets, pyqtgraph) on the PyQt6 binding.

    ``PYQTGRAPH_QT_LIB`` is set to PyQt6 before pyqtgraph is imported (PySide6 6.12.0 aborts
    pyqtgraph on Python 3.11, so no other binding is tried). Raises :class:`ImuHipError` with one
    line naming ``pip install imu-hip[viewer]`` if PyQt6 or pyqtgraph is missing.
    """
    os.environ["PYQTGRAPH_QT_LIB"] = "PyQt6"
    try:
        from PyQt6 import QtCore, QtGui, QtWidgets
    except ImportError as e:
        raise ImuHipError(
            f"the viewer needs PyQt6, which is not installed or does not load ({_why(e)}): "
            f"{INSTALL_HINT}"
        ) from None
    try:
        import pyqtgraph as pg
    except ImportError as e:
        raise ImuHipError(
            f"the viewer needs pyqtgraph, which is not installed or does not load ({_why(e)}): "
            f"{INSTALL_HINT}"
        ) from None
    binding = getattr(getattr(pg, "Qt", None), "QT_LIB", "PyQt6")
    if binding != "PyQt6":  # pyqtgraph was imported earlier on another binding
        raise ImuHipError(
            f"pyqtgraph is already using {binding}; the viewer needs PyQt6 ({INSTALL_HINT})"
        )
    return QtCore, QtGui, QtWidgets, pg


def _why(e: ImportError) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:120]


def qt_loaded() -> bool:
    """True if any Qt binding has been imported in this process."""
    return any(m in sys.modules for m in ("PyQt6", "PyQt5", "PySide6", "PySide2"))
