"""Live use: stream from sensors, print each step as it is measured, record everything.

    python examples/live_session.py [--out run.mcap] [--seconds 60] [--speed 10]

Runs against simulated imu-hip devices on the sacrum and the left shoe (no hardware needed); for
real sensors, build the links with ``imu_hip.ble.scan.find_devices`` and
``imu_hip.ble.bleak_link.BleakLink`` instead (see docs/recording.md).
"""

from __future__ import annotations

import argparse
import asyncio

from imu_hip.ble.virtual import virtual_devices
from imu_hip.calibration import session_calibration_for
from imu_hip.session import DeviceSpec, Session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="run.mcap", help="recording to write (MCAP)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the session")
    parser.add_argument("--speed", type=float, default=10.0, help="times faster than real time")
    args = parser.parse_args()

    first: list[float] = []  # host time of the first step (host times are Unix seconds)

    def on_steps(placement: str, steps) -> None:
        for row in steps.rows():
            first[:] = first or [row["t_ic_s"]]
            contact_ms = 1000 * row["contact_time_s"]
            print(f"{placement} step at {row['t_ic_s'] - first[0]:6.2f} s: {row['side']:<7} "
                  f"cadence {row['cadence_spm']:.0f} spm, contact {contact_ms:.0f} ms, "
                  f"pelvic drop {row['pelvic_drop_deg']:.1f} deg")

    links = virtual_devices(("sacrum", "left_foot"), duration_s=args.seconds, speed=args.speed)
    session = Session(
        [DeviceSpec(link, link.placement, "imu-hip") for link in links],
        record_to=args.out,
        on_steps=on_steps,
        calibration_for=session_calibration_for,  # stored calibrations, gyro bias tracking
    )
    asyncio.run(session.run())
    for device_id, st in session.status().items():
        print(f"{device_id}: {st.packets} packets, loss {st.loss_pct:.1f} %, "
              f"clock drift {st.drift_ppm:.1f} ppm")
    print(f"{len(session.steps('sacrum'))} steps; recording in {args.out} "
          f"(try: imu-hip analyze {args.out})")


if __name__ == "__main__":
    main()
