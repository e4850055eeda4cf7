"""Live viewer (optional extra ``imu-hip[viewer]``): signals and per-step feedback.

The Qt-free parts can be imported without PyQt6 and are unit-tested on their own:

- :mod:`.ring` - preallocated per-sensor ring buffers (one writer thread, one reader);
- :mod:`.decimate` - min/max decimation to about two points per pixel (peaks survive);
- :mod:`.targets` - the per-step panels, rolling averages, targets with hysteresis;
- :mod:`.feed` - the worker thread (asyncio loop) that replays a recording or runs a live
  session and fills the buffers and the step store;
- :mod:`.sources` - the live sessions behind ``--sim`` (virtual devices) and ``--device`` (BLE).

:mod:`.app` is the PyQt6/pyqtgraph window; :func:`.qt.load_qt` imports the binding and says how to
install it when it is missing. Nothing outside this package imports Qt.
"""
