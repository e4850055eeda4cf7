"""Test-wide settings: Qt draws offscreen (no display here), with the PyQt6 binding."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt6")
