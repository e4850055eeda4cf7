"""One module per ``imu-hip`` sub-command.

Each module defines ``ORDER`` (an int: where the command appears in ``imu-hip --help``) and
``add_parser(sub)``, which adds its sub-parser and sets ``func`` (``args -> exit code``). Keep the
module light: import the heavy machinery inside the command function, so that ``imu-hip analyze``
starts fast.
"""
