"""Synthetic runner: sacrum and shoe IMU signals with per-step ground truth.

Everything is seeded and deterministic: ``simulate(params, seed)`` returns the same arrays for the
same inputs. The analysis is validated against this model, so every signal comes from a stated
physical model; nothing is shaped around a detector. Units are SI; frames follow
:mod:`imu_hip.model` (world and body: x forward, y left, z up; proper acceleration, gravity
included). ``docs/simulator.md`` has the longer write-up.

Timeline
--------
``phases`` is a sequence of ``("stand" | "walk" | "run", duration_s)``. Steps are scheduled one
after the other: step time ``60 / cadence`` (with asymmetry, fatigue drift and step-to-step
variability ``step_time_cv``), desired contact time ``duty_factor * stride_time`` (``duty_factor``
= contact time / stride time, the definition of :data:`imu_hip.model.STEP_COLUMNS`; variability
``contact_time_cv``). A step belongs to the phase that contains its touchdown. A recording that
starts in a gait phase gets an internal pre-roll (cut off) so that it starts in steady state. A
bout after standing starts with the right foot. At a gait change the last contact of the old gait
is shortened if needed so that its foot keeps at least 80 % of the new gait's swing time.

Vertical ground reaction force (per foot)
-----------------------------------------
* Active part: the three-term Fourier form of Alexander & Jayes (1980, J Biomech 13:383) over the
  support time: ``F(u) = A [cos(pi s) - q cos(3 pi s) + r sin(2 pi s)]``, ``s = u - 1/2``,
  ``u`` in [0, 1]. ``q`` flattens (q > 0 gives the walking M-shape), ``r`` skews. Running
  ``q = -0.08``, ``r = -0.10``: a least-squares fit to the mean force curves of the level and
  downhill rear-foot trials (2, 3, 6, 8, 22) of the shared ``sacrum_running_grf`` data
  (Alcantara et al. 2022, PeerJ 10:e12752; fits gave q -0.05..-0.09, r -0.09..-0.13, rms error
  0.02-0.06 BW). The peak sits at ~45 % of contact, so it is not a half-sine. Walking ``q = 0.35``,
  ``r = -0.03``: humps ~1.1 BW at ~25 % / ~75 % of stance, valley ~0.8 BW, double support.
* Impact part (running; rear strike, x0.35 mid, none fore - forefoot strikers show no distinct
  impact peak, Lieberman et al. 2010, Nature 463:531): the lower-limb collision of the two-mass
  model of Clark, Ryan & Weyand (2017, J Exp Biol 220:247), a raised-cosine bell of peak
  ``grf_impact_bw`` (0.7) peaking 28 ms after touchdown and over at 56 ms (the fit above: 0.4-1.0
  BW at 25-34 ms).
* Amplitude ``A`` and a small per-step change of the skew ``r`` (at most 0.12) are solved step by
  step so that the centre of mass (COM) reaches the next touchdown with the touchdown velocity of
  the periodic gait and at a fixed reference height. In steady gait this is exactly momentum
  balance (the vertical impulse of a step equals body weight x step time: ``A = (m g T -
  J_impact) / integral``); with step-to-step variability and at gait changes it keeps the COM from
  climbing or sinking. Running peaks come out at 2.2-2.5 BW, as on force plates.
* Truth uses the force-plate definition: contact = this foot's vertical force above 0.05 BW
  (``t_ic_s``, ``t_to_s`` are exact crossings of the analytic force, ~1-2 ms after touchdown /
  before lift-off). ``vgrf_peak_bw`` = largest force after the impact window (``t >= touchdown +
  56 ms`` when there is an impact), i.e. the active peak. ``loading_rate_bw_s`` = (0.8 peak -
  0.05) / (time from contact to 0.8 peak), per :data:`STEP_COLUMNS`.

Horizontal forces
-----------------
The ground reaction force points from the centre of pressure to the COM (spring-mass view,
Blickhan 1989, J Biomech 22:1217): ``Fx = Fz (t - t_c) v_eff / h`` with ``h`` = ``leg_length_m``,
``v_eff`` = speed minus the centre-of-pressure travel along the foot (0.12 m running, 0.20 m
walking) over the contact, and ``t_c`` the force centroid, so braking (first half) and propulsion
(second half) cancel over each contact. Peaks ~0.25-0.35 BW at 3 m/s (cf. Munro, Miller &
Fuglevand 1987, J Biomech 20:147). Mediolateral: the stance foot is ``step_width/2`` off the
midline, so the force pushes the body toward the midline (right stance pushes to +y), ~0.1 BW;
each contact's lateral impulse makes the lateral velocity alternate symmetrically around zero.
Speed changes between phases (ramps of 2-2.5 s) add a smooth horizontal acceleration directly.

Sacrum
------
* COM: ``a = F_total / m - g``, so its proper acceleration is F/m. Height and vertical velocity
  are integrated (trapezoid) from it; flight is ballistic; standing is still.
* Soft tissue / wobbling mass: the sacrum rides on a lower mass ``m_low`` (stance leg and pelvis)
  that takes the impact force first, while the upper body follows through a spring-damper
  (``trunk_freq_hz`` 7 Hz, ``trunk_damping`` 1.0), as in two-mass impact models (e.g. Liu & Nigg
  2000, J Biomech 33:219). Only the impact part of the force goes through this filter; the slow
  active force is transmitted quasi-statically. ``m_low`` is set so that a rear-foot impact of
  ``grf_impact_bw`` gives a peak sacral excess over F/m of ``impact_g`` (1.2 g); with the defaults
  m_low is ~20 % of body mass and sacral impact peaks are ~2.5 g. The sacrum's displacement
  relative to the COM is ``(m_up/m) d`` (``d`` the spring deflection), which dies out after each
  impact, so the impulse balance is untouched; momentum conservation also puts a dip of similar
  area right after the spike. Low-passed at 20 Hz like the published data, the simulated spike
  exceeds the force (in BW) by ~1.0 g (shared rear-foot trials: 0.8-2.4 g) and the dip goes
  ~0.9 g below it (trials: 0.0-1.0 g; their negative values were clipped and their mean is
  1.15 g, so they are not a clean reference for the dip).
* Pelvis orientation ``R = Rz(rotation) Rx(obliquity) Ry(tilt)``, the rotation-obliquity-tilt
  sequence recommended by Baker (2001, Gait Posture 13:1); obliquity is then exactly the elevation
  of the pelvis' left axis, ``asin(R[2, 1])`` (see :func:`pelvis_angles_from_matrix`). Each angle
  is a C1 cosine interpolation between per-step extremes: obliquity -drop (right stance: the left
  side drops) / +drop (left stance) at 40 % of the contact; tilt ``offset -/+ rom/2`` at 20 % / 70 %
  of the step (two cycles per stride); rotation +rom/2 at right touchdown, -rom/2 at left
  touchdown (so the yaw rate is negative during right stance: the left side comes forward with
  the swinging left leg). Standing is neutral (all 0); ``pelvic_tilt_offset_deg`` is the mean
  extra anterior tilt while running. Defaults (drop 5, tilt range 5, rotation range 10 deg) are in
  the ranges reported for recreational runners (e.g. the review of Schache et al. 1999, Gait
  Posture 10:30; Preece et al. 2016, Hum Mov Sci 45:110); the timing is a simplification (cf.
  Novacheck 1998, Gait Posture 7:77). Truth ranges are measured on the simulated angles.
* Angular rate = the exact body-frame angular velocity of ``R`` (analytic Euler-rate relation,
  no small-angle approximation; a test integrates it back to ``R``). The sensor sits
  ``sacrum_offset_m`` (-0.10, 0, 0) from the pelvis rotation centre; its acceleration includes
  ``alpha x r + omega x (omega x r)`` (this is why flight reads ~-0.05 g instead of 0).
* Accelerometer = ``R^T (a_world + g z)``, then into the sensor frame: ``sensor = M^T body`` with
  ``M`` the mounting.

Shoes
-----
Each foot is a rigid body with orientation ``Ry(pitch) Rx(roll)`` (pitch about y, positive = toe
down; roll = eversion, lowering the medial edge), sensor on the instep ``(0.09, 0, 0.06)`` m from
the heel. Stance: touchdown at the force onset with the sagittal foot angle
``foot_strike_angle_deg`` (elevation of the foot's long axis, + = toe up; defaults 15 / 3 / -8 deg
for rear / mid / fore, inside the classes of Altman & Davis 2012, Gait Posture 35:298: > 8,
-1.6..8, < -1.6), rolling about the heel / midfoot / ball to flat (profile ``2w^3 - w^4``: slap
rate at touchdown, C2 at foot-flat); flat and exactly still between foot-flat and heel-off
(``t_midstance_s`` = the middle of this window); heel-off rotation about the ball to
``toe_off_angle_deg`` at lift-off. Eversion goes from 30 % of ``pronation_excursion_deg`` inverted
at touchdown to 70 % everted at foot-flat (excursion = the parameter), holds, and returns by
toe-off. Swing: quintic (position, velocity, acceleration continuous) from toe-off to the next
touchdown plus a clearance bump; the foot's still position is the COM position at its
mid-stance, so consecutive still positions of a foot are speed x stride time apart
(``stride_length_m`` = that displacement, NaN for the first stride after standing). A damped
shock at touchdown (``shoe_impact_g``, decay 3 ms, over by 35 ms) is added to the acceleration and
its sub-millimetre displacement to the position. Walking angles (~18 deg toe up at contact,
~60 deg toe down at toe-off) follow the shared ``feet_walking_mocap`` sample.

Imperfections
-------------
White noise (``acc_noise_mps2``, ``gyr_noise_rads``), a constant gyro bias per sensor, a mounting
rotation per sensor (``body = R @ sensor``; default random from the seed), range clipping
(16 g, 2000 deg/s), timestamp jitter (true sampling uniform, reported host times noisy, clipped to
+-0.45 samples so order is kept), single dropped samples (``drop_prob``) and gaps (time ranges
with no samples, the same for every sensor). All randomness comes from
``numpy.random.default_rng(seed)`` (independent child streams per purpose, so simulating fewer
placements leaves the others unchanged).

Not modelled / limitations: turns, slopes, arm swing, the stance-hip pivot of the pelvic drop,
foot yaw (toe-out), sensor scale/cross-axis errors and clock drift. Starting and stopping are
simple transitions, not validated gait; the truth's last contact of each bout has NaN step columns.

Truth (``Simulation.truth``): one row per step (touchdown to the next touchdown), the columns of
:data:`imu_hip.model.STEP_COLUMNS` plus ``foot_strike_angle_deg``, ``stride_length_m``,
``speed_mps`` (mean COM speed over the step), ``pronation_excursion_deg``, ``t_midstance_s``,
``t_touchdown_s`` / ``t_liftoff_s`` (geometric foot contact), ``fully_recorded`` (no gap in the
step). Computed from the noise-free model on the true sample grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as _sig
from scipy.spatial.transform import Rotation

from imu_hip.model import G, ImuHipError, Recording, SensorRecording

__all__ = [
    "RunnerParams",
    "Simulation",
    "simulate",
    "demo_params",
    "pelvis_rotation_matrix",
    "pelvis_angles_from_matrix",
    "SENSOR_IDS",
]

#: Sensor ids of the simulated devices, per placement.
SENSOR_IDS = {"sacrum": "sim-sacrum", "left_foot": "sim-left-foot", "right_foot": "sim-right-foot"}

_STRIKE_ANGLE_DEG = {"rear": 15.0, "mid": 3.0, "fore": -8.0}
_STRIKE_IMPACT = {"rear": 1.0, "mid": 0.35, "fore": 0.0}
_STRIKE_SHOE_IMPACT = {"rear": 1.0, "mid": 0.8, "fore": 0.6}
_STRIKE_PIVOT_X = {"rear": 0.0, "mid": 0.10, "fore": 0.18}  # m from the heel along the sole
_STRIKE_FLAT_FRAC = {"rear": 0.20, "mid": 0.10, "fore": 0.15}  # foot-flat, share of contact
_HEELOFF_FRAC = {"run": 0.50, "walk": 0.60}
_BALL_X = 0.18  # m, ball of the foot (metatarsal heads) from the heel
_SENSOR_FOOT = np.array([0.09, 0.0, 0.06])  # shoe sensor position in the foot frame (m)
_T1_IMPACT = 0.028  # s, time of the impact peak after touchdown
_CONTACT_BW = 0.05  # force-plate contact threshold (body weights)
_SHAPE = {"run": (-0.08, -0.10), "walk": (0.35, -0.03)}  # Alexander & Jayes (q, r)
_COP_TRAVEL = {"run": 0.12, "walk": 0.20}  # m
_Z_REF = {"stand": 0.0, "walk": -0.02, "run": -0.04}  # COM height at touchdown vs standing (m)
_MAX_SKEW = 0.12  # largest per-step change of the skew term r


@dataclass
class RunnerParams:
    """Runner, gait and sensor settings. Defaults: an easy 3 m/s rear-foot run, 60 s.

    Running: ``speed_mps``, ``cadence_spm`` (steps/min), ``duty_factor`` (contact / stride time).
    Walking has its own ``walk_*`` values. Angles in degrees. Asymmetry: right minus left
    (``asym_contact_pct``: right contact longer by this %, left shorter by the same half; the same
    for ``asym_step_pct``; ``asym_drop_deg``: drop during right stance larger by this). Fatigue:
    linear drift per minute of running time (walking and standing do not tire), applied to
    running steps. ``mounting``: ``"random"`` (a random rotation per sensor drawn from the seed),
    ``"identity"`` or a dict placement -> 3x3 sensor-to-body rotation. ``gyr_bias_rads``: None
    draws a bias per sensor (sd ``gyr_bias_sd_rads``), or one (3,) bias for all sensors.
    ``gaps``: (start_s, duration_s) ranges where no sensor records.
    """

    # running
    speed_mps: float = 3.0
    cadence_spm: float = 170.0
    duty_factor: float = 0.36
    mass_kg: float = 70.0
    leg_length_m: float = 0.90
    step_width_m: float = 0.06
    foot_strike: str = "rear"
    foot_strike_angle_deg: float | None = None  # None: 15 rear, 3 mid, -8 fore
    toe_off_angle_deg: float = -50.0
    pelvic_drop_deg: float = 5.0
    pelvic_tilt_rom_deg: float = 5.0
    pelvic_tilt_offset_deg: float = 2.0  # mean anterior tilt while running vs standing
    pelvic_rotation_rom_deg: float = 10.0
    pronation_excursion_deg: float = 10.0
    impact_g: float = 1.2
    grf_impact_bw: float = 0.7
    shoe_impact_g: float = 8.0
    swing_height_m: float | None = None  # None: 0.15 + 0.05 * speed
    # walking
    walk_speed_mps: float = 1.3
    walk_cadence_spm: float = 110.0
    walk_duty_factor: float = 0.62
    walk_step_width_m: float = 0.10
    walk_pelvic_drop_deg: float = 3.5
    walk_pelvic_tilt_rom_deg: float = 3.0
    walk_pelvic_rotation_rom_deg: float = 8.0
    walk_foot_strike_angle_deg: float = 18.0
    walk_toe_off_angle_deg: float = -60.0
    walk_pronation_excursion_deg: float = 6.0
    walk_swing_height_m: float = 0.08
    stand_width_m: float = 0.20
    # body
    sacrum_offset_m: tuple[float, float, float] = (-0.10, 0.0, 0.0)
    trunk_freq_hz: float = 7.0
    trunk_damping: float = 1.0
    # asymmetry and fatigue
    asym_contact_pct: float = 0.0
    asym_step_pct: float = 0.0
    asym_drop_deg: float = 0.0
    fatigue_drop_deg_per_min: float = 0.0
    fatigue_cadence_spm_per_min: float = 0.0
    fatigue_contact_pct_per_min: float = 0.0
    # step-to-step variability
    step_time_cv: float = 0.015
    contact_time_cv: float = 0.02
    pelvis_angle_sd_deg: float = 0.3
    foot_angle_sd_deg: float = 1.0
    # timeline and sampling
    phases: tuple[tuple[str, float], ...] = (("run", 60.0),)
    rate_hz: float = 400.0
    start_time_s: float = 0.0
    # imperfections
    acc_noise_mps2: float = 0.03
    gyr_noise_rads: float = 0.003
    gyr_bias_rads: tuple[float, float, float] | None = None
    gyr_bias_sd_rads: float = 0.005
    acc_range_g: float | None = 16.0
    gyr_range_rads: float | None = 34.9  # 2000 deg/s
    mounting: str | dict = "random"
    clock_jitter_s: float = 0.0
    drop_prob: float = 0.0
    gaps: tuple[tuple[float, float], ...] = ()
    include_gyro: bool = True

    def __post_init__(self) -> None:
        if self.foot_strike not in _STRIKE_ANGLE_DEG:
            raise ImuHipError(f"foot_strike must be rear, mid or fore, got {self.foot_strike!r}")
        if self.rate_hz < 20:
            raise ImuHipError(f"rate_hz must be at least 20, got {self.rate_hz}")
        for name in ("cadence_spm", "walk_cadence_spm", "mass_kg", "leg_length_m"):
            if not getattr(self, name) > 0:
                raise ImuHipError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.15 <= self.duty_factor <= 0.5:
            raise ImuHipError(
                f"running duty_factor must be within 0.15-0.5, got {self.duty_factor}")
        if not 0.52 <= self.walk_duty_factor <= 0.75:
            raise ImuHipError(
                f"walk_duty_factor must be within 0.52-0.75, got {self.walk_duty_factor}")
        if self.speed_mps < 0.5 or self.walk_speed_mps < 0.2:
            raise ImuHipError("speed_mps must be >= 0.5 and walk_speed_mps >= 0.2")
        if not self.phases:
            raise ImuHipError("phases must not be empty")
        for kind, dur in self.phases:
            if kind not in ("stand", "walk", "run") or not dur > 0:
                raise ImuHipError(f"bad phase {(kind, dur)!r}: kind stand|walk|run, duration > 0")
        if not 0.0 <= self.drop_prob < 0.5:
            raise ImuHipError(f"drop_prob must be within [0, 0.5), got {self.drop_prob}")

    @property
    def duration_s(self) -> float:
        """Total duration of all phases (s)."""
        return float(sum(d for _, d in self.phases))


@dataclass(eq=False)
class Simulation:
    """Result of :func:`simulate`.

    ``recording``: the sensors (sensor frame, SI, host time). ``truth``: per-step arrays (see the
    module docstring). ``phases``: (kind, t_start_s, t_end_s) in recording time. ``mounting``:
    placement -> sensor-to-body rotation (``body = R @ sensor``). ``gyr_bias_rads``: placement ->
    bias (sensor frame). ``signals``: noise-free reference on the uniform true sample grid
    ``t_s`` (before drops and gaps): pelvis angles (deg), sacrum height (m), vertical GRF per foot
    (BW), body-frame sacrum acceleration / angular rate, and per foot the sensor position (m).
    """

    recording: Recording
    truth: dict[str, np.ndarray]
    phases: list[tuple[str, float, float]]
    mounting: dict[str, np.ndarray]
    gyr_bias_rads: dict[str, np.ndarray] = field(default_factory=dict)
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    params: RunnerParams | None = None
    seed: int = 0


# --------------------------------------------------------------------------------------------
# rotations


def pelvis_rotation_matrix(tilt_rad, obliquity_rad, rotation_rad) -> np.ndarray:
    """Body-to-world rotation ``Rz(rotation) Rx(obliquity) Ry(tilt)``, shape (..., 3, 3).

    Tilt is about y (anterior positive), obliquity about x (left side up positive), rotation about
    z. With this sequence obliquity = asin(R[2, 1]), the elevation of the pelvis' left axis.
    """
    th = np.asarray(tilt_rad, dtype=float)
    ph = np.asarray(obliquity_rad, dtype=float)
    ps = np.asarray(rotation_rad, dtype=float)
    ct, st, cp, sp, cz, sz = np.cos(th), np.sin(th), np.cos(ph), np.sin(ph), np.cos(ps), np.sin(ps)
    r = np.empty(np.broadcast(th, ph, ps).shape + (3, 3))
    # Rx(ph) Ry(th) = [[ct, 0, st], [sp st, cp, -sp ct], [-cp st, sp, cp ct]]
    m10, m11, m12 = sp * st, cp, -sp * ct
    r[..., 0, 0] = cz * ct - sz * m10
    r[..., 0, 1] = -sz * m11
    r[..., 0, 2] = cz * st - sz * m12
    r[..., 1, 0] = sz * ct + cz * m10
    r[..., 1, 1] = cz * m11
    r[..., 1, 2] = sz * st + cz * m12
    r[..., 2, 0] = -cp * st
    r[..., 2, 1] = sp
    r[..., 2, 2] = cp * ct
    return r


def pelvis_angles_from_matrix(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`pelvis_rotation_matrix`: (tilt, obliquity, rotation) in rad."""
    r = np.asarray(r, dtype=float)
    obl = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    tilt = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    rot = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    return tilt, obl, rot


def _pelvis_body_rate(th, ph, ps, dth, dph, dps) -> np.ndarray:
    """Exact body-frame angular velocity of Rz(ps) Rx(ph) Ry(th), shape (n, 3)."""
    ct, st, cp, sp = np.cos(th), np.sin(th), np.cos(ph), np.sin(ph)
    return np.stack([dph * ct - dps * st * cp, dth + dps * sp, dph * st + dps * ct * cp], axis=-1)


def _foot_rotation(th: np.ndarray, be: np.ndarray) -> np.ndarray:
    """R = Ry(th) Rx(be), shape (n, 3, 3): pitch th (toe down positive), then roll be."""
    c, s, cb, sb = np.cos(th), np.sin(th), np.cos(be), np.sin(be)
    r = np.empty(th.shape + (3, 3))
    r[..., 0, 0], r[..., 0, 1], r[..., 0, 2] = c, s * sb, s * cb
    r[..., 1, 0], r[..., 1, 1], r[..., 1, 2] = 0.0, cb, -sb
    r[..., 2, 0], r[..., 2, 1], r[..., 2, 2] = -s, c * sb, c * cb
    return r


def _foot_rates(th, be, dth, dbe, ddth, ddbe) -> tuple[np.ndarray, np.ndarray]:
    """Exact body angular velocity and acceleration of Ry(th) Rx(be), each (n, 3)."""
    cb, sb = np.cos(be), np.sin(be)
    omega = np.stack([dbe, dth * cb, -dth * sb], axis=-1)
    alpha = np.stack([ddbe, ddth * cb - dth * dbe * sb, -ddth * sb - dth * dbe * cb], axis=-1)
    return omega, alpha


# --------------------------------------------------------------------------------------------
# small numeric helpers


def _cos_interp(tk: np.ndarray, yk: np.ndarray, t: np.ndarray):
    """C1 interpolation through knots with zero slope at each knot: value, rate, acceleration."""
    if tk.size == 0:
        z = np.zeros_like(t)
        return z, z.copy(), z.copy()
    if tk.size == 1:
        return np.full_like(t, yk[0]), np.zeros_like(t), np.zeros_like(t)
    j = np.clip(np.searchsorted(tk, t, side="right") - 1, 0, tk.size - 2)
    t0, t1, y0, y1 = tk[j], tk[j + 1], yk[j], yk[j + 1]
    h = t1 - t0
    u = np.clip((t - t0) / h, 0.0, 1.0)
    inside = (t > t0) & (t < t1)
    dy = y1 - y0
    y = y0 + dy * 0.5 * (1.0 - np.cos(np.pi * u))
    v = np.where(inside, dy * 0.5 * np.pi * np.sin(np.pi * u) / h, 0.0)
    a = np.where(inside, dy * 0.5 * np.pi**2 * np.cos(np.pi * u) / h**2, 0.0)
    return y, v, a


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (n, 3) arrays (b may be (3,))."""
    b = np.broadcast_to(b, a.shape)
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _window_reduce(x: np.ndarray, ia: np.ndarray, ib: np.ndarray, ufunc) -> np.ndarray:
    """``ufunc.reduce(x[ia[i]:ib[i]])`` for each i, vectorised; NaN for empty windows.

    Windows are processed in two interleaved halves, so windows may overlap their neighbours
    (e.g. walking stance of alternate feet) but not the next-but-one window.
    """
    out = np.full(ia.size, np.nan)
    xe = np.append(x, x[-1])  # reduceat needs indices < len
    for par in (0, 1):
        sel = np.arange(par, ia.size, 2)
        if sel.size == 0:
            continue
        a, b = ia[sel], np.maximum(ib[sel], ia[sel])
        ok = b > a
        if not np.all(np.diff(np.stack([a, b], axis=1).ravel()) >= 0):
            for i, j in enumerate(sel):  # overlapping windows: plain loop
                if ok[i]:
                    out[j] = ufunc.reduce(x[a[i]:b[i]])
            continue
        idx = np.stack([a, b], axis=1).ravel()
        red = ufunc.reduceat(xe, np.minimum(idx, x.size))[0::2]
        out[sel[ok]] = red[ok]
    return out


def _cumtrapz(a: np.ndarray, dt: float, initial: float = 0.0) -> np.ndarray:
    out = np.empty_like(a)
    out[0] = initial
    np.cumsum((a[1:] + a[:-1]) * (0.5 * dt), out=out[1:])
    out[1:] += initial
    return out


def _integrate_end(a: np.ndarray, dt: float, z0: float, v0: float) -> tuple[float, float]:
    """End height and velocity after trapezoid-integrating ``a`` (closed interval)."""
    if a.size < 2:
        return z0, v0
    v = _cumtrapz(a, dt, v0)
    z_end = z0 + float(np.sum(v[1:] + v[:-1]) * 0.5 * dt)
    return z_end, float(v[-1])


def _aj_shape(u: np.ndarray, q, r) -> np.ndarray:
    """Alexander & Jayes vertical force shape (peak ~1) on u in [0, 1], zero outside."""
    s = np.clip(u, 0.0, 1.0) - 0.5  # every term vanishes at s = +-1/2
    c, sn = np.cos(np.pi * s), np.sin(np.pi * s)
    # cos(3x) = 4 cos^3 x - 3 cos x, sin(2x) = 2 sin x cos x
    f = c * (1.0 - q * (4.0 * c * c - 3.0) + 2.0 * r * sn)
    return np.maximum(f, 0.0)


def _aj_integral(q: float | np.ndarray) -> float | np.ndarray:
    """Integral of the shape over u in [0, 1] (the sine term integrates to zero)."""
    return (2.0 / np.pi) * (1.0 + np.asarray(q) / 3.0)


def _impact_bell(tau: np.ndarray) -> np.ndarray:
    """Unit raised-cosine impact bell, peak 1 at t1, zero outside [0, 2 t1]."""
    return 0.5 * (1.0 - np.cos(np.pi * np.clip(tau / _T1_IMPACT, 0.0, 2.0)))


def _shock(tau: np.ndarray, tau_s: float, t_end: float) -> tuple[np.ndarray, np.ndarray]:
    """Damped shock: unit-peak acceleration and the matching displacement (per unit peak).

    Displacement ``d = u^3 exp(-u) w(t)`` with ``u = t / tau_s`` and a cosine taper ``w`` that
    ends it exactly at ``t_end`` (so the foot is exactly still afterwards); the acceleration is
    its exact second derivative.
    """
    tau = np.asarray(tau, dtype=float)
    u = np.clip(tau, 0.0, None) / tau_s
    e = np.exp(-u)
    f = u**3 * e
    f1 = (3 * u**2 - u**3) * e / tau_s
    f2 = (6 * u - 6 * u**2 + u**3) * e / tau_s**2
    t0 = 0.6 * t_end  # taper from t0 to t_end
    x = np.clip((tau - t0) / (t_end - t0), 0.0, 1.0)
    w = 0.5 * (1 + np.cos(np.pi * x))
    inside = (tau > t0) & (tau < t_end)
    w1 = np.where(inside, -0.5 * np.pi * np.sin(np.pi * x) / (t_end - t0), 0.0)
    w2 = np.where(inside, -0.5 * np.pi**2 * np.cos(np.pi * x) / (t_end - t0) ** 2, 0.0)
    norm = 0.98628 / tau_s**2  # peak of f2 (at u ~ 0.416)
    active = (tau > 0) & (tau < t_end)
    acc = np.where(active, (f2 * w + 2 * f1 * w1 + f * w2) / norm, 0.0)
    disp = np.where(active, f * w / norm, 0.0)
    return acc, disp


def _quintic_coeffs(p0, v0, a0, p1, v1, a1, T):
    """Quintic on u in [0, 1] with the given end states over duration T; (..., 6)."""
    V0, V1, A0, A1 = v0 * T, v1 * T, a0 * T**2, a1 * T**2
    d = p1 - p0
    c3 = 10 * d - 6 * V0 - 4 * V1 - (3 * A0 - A1) / 2
    c4 = -15 * d + 8 * V0 + 7 * V1 + (3 * A0 - 2 * A1) / 2
    c5 = 6 * d - 3 * V0 - 3 * V1 - (A0 - A1) / 2
    return np.stack([p0, V0, A0 / 2, c3, c4, c5], axis=-1)


def _quintic_eval(c, u, T):
    """Value, d/dt and d2/dt2 of quintic coefficients ``c`` (n, 6) at u (n,)."""
    c0, c1, c2, c3, c4, c5 = (c[..., i] for i in range(6))
    p = c0 + u * (c1 + u * (c2 + u * (c3 + u * (c4 + u * c5))))
    dp = c1 + u * (2 * c2 + u * (3 * c3 + u * (4 * c4 + u * 5 * c5)))
    ddp = 2 * c2 + u * (6 * c3 + u * (12 * c4 + u * 20 * c5))
    return p, dp / T, ddp / T**2


def _roll_profile(u):
    """g(u) = 2u^3 - u^4 and its derivatives: 0 -> 1 with g'(0) = g''(0) = 0, g'(1) = 2."""
    return 2 * u**3 - u**4, 6 * u**2 - 4 * u**3, 12 * u - 12 * u**2


# --------------------------------------------------------------------------------------------
# schedule


def _fatigue_minutes(phases: list[tuple[str, float, float]], t: float) -> float:
    run_s = 0.0
    for kind, a, b in phases:
        if kind == "run":
            run_s += max(0.0, min(b, t) - max(a, 0.0))
    return run_s / 60.0


def _gait_values(p: RunnerParams, gait: str) -> dict:
    if gait == "run":
        sw = p.swing_height_m if p.swing_height_m is not None else 0.15 + 0.05 * p.speed_mps
        fsa = (p.foot_strike_angle_deg if p.foot_strike_angle_deg is not None
               else _STRIKE_ANGLE_DEG[p.foot_strike])
        return dict(speed=p.speed_mps, cadence=p.cadence_spm, duty=p.duty_factor,
                    width=p.step_width_m, drop=p.pelvic_drop_deg, tilt=p.pelvic_tilt_rom_deg,
                    tilt_off=p.pelvic_tilt_offset_deg, rot=p.pelvic_rotation_rom_deg,
                    strike_angle=fsa, to_angle=p.toe_off_angle_deg,
                    pron=p.pronation_excursion_deg, swing_h=sw, strike=p.foot_strike,
                    impact_bw=p.grf_impact_bw * _STRIKE_IMPACT[p.foot_strike],
                    shoe_g=p.shoe_impact_g * _STRIKE_SHOE_IMPACT[p.foot_strike])
    return dict(speed=p.walk_speed_mps, cadence=p.walk_cadence_spm, duty=p.walk_duty_factor,
                width=p.walk_step_width_m, drop=p.walk_pelvic_drop_deg,
                tilt=p.walk_pelvic_tilt_rom_deg, tilt_off=0.0, rot=p.walk_pelvic_rotation_rom_deg,
                strike_angle=p.walk_foot_strike_angle_deg, to_angle=p.walk_toe_off_angle_deg,
                pron=p.walk_pronation_excursion_deg, swing_h=p.walk_swing_height_m,
                strike="rear", impact_bw=0.0, shoe_g=0.6 * p.shoe_impact_g)


def _schedule(p: RunnerParams, phases: list[tuple[str, float, float]], t_grid0: float,
              rng: np.random.Generator) -> dict:
    """Contacts in time order (one per step) with their per-step parameters."""
    rows: list[dict] = []
    bouts: list[dict] = []
    n_ph = len(phases)
    t_next = None
    side = 1  # +1 right, -1 left
    for i, (kind, a, b) in enumerate(phases):
        if kind == "stand":
            t_next = None
            continue
        g0 = _gait_values(p, kind)
        if t_next is None:  # new bout
            if i == 0:
                t_next = t_grid0 - 1.5  # start in steady gait before the internal grid
            else:
                t_next = a + (0.35 if kind == "walk" else 0.3)
            side = 1
            bouts.append(dict(start=t_next, first=len(rows), after_stand=i > 0))
        b_eff = b + (2.5 if i == n_ph - 1 else 0.0)  # run on past the end: no loose feet
        while t_next < b_eff:
            fm = _fatigue_minutes(phases, t_next) if kind == "run" else 0.0
            g = g0
            cad = g["cadence"] + (p.fatigue_cadence_spm_per_min * fm if kind == "run" else 0.0)
            t_step_mean = 60.0 / max(cad, 30.0)
            step_f = 1.0 + side * p.asym_step_pct / 200.0
            T_nom = t_step_mean * step_f
            T = T_nom * (1.0 + p.step_time_cv * np.clip(rng.standard_normal(), -4, 4))
            tc_f = 1.0 + side * p.asym_contact_pct / 200.0
            if kind == "run":
                tc_f *= 1.0 + p.fatigue_contact_pct_per_min * fm / 100.0
            tc_nom = g["duty"] * 2 * t_step_mean * tc_f
            tc = tc_nom * (1.0 + p.contact_time_cv * np.clip(rng.standard_normal(), -4, 4))
            drop = g["drop"] + side * p.asym_drop_deg / 2.0
            if kind == "run":
                drop += p.fatigue_drop_deg_per_min * fm
            drop += p.pelvis_angle_sd_deg * rng.standard_normal()
            rows.append(dict(
                t_on=t_next, T=T, tc=tc, T_nom=T_nom, tc_nom=tc_nom, side=side, gait=kind,
                bout=len(bouts) - 1,
                drop=drop,
                tilt=max(0.0, g["tilt"] + p.pelvis_angle_sd_deg * rng.standard_normal()),
                tilt_off=g["tilt_off"],
                rot=max(0.0, g["rot"] + p.pelvis_angle_sd_deg * rng.standard_normal()),
                strike_angle=g["strike_angle"] + p.foot_angle_sd_deg * rng.standard_normal(),
                to_angle=g["to_angle"] + p.foot_angle_sd_deg * rng.standard_normal(),
                pron=max(0.0, g["pron"] + 0.5 * p.foot_angle_sd_deg * rng.standard_normal()),
                swing_h=g["swing_h"], strike=g["strike"], impact_bw=g["impact_bw"],
                shoe_g=g["shoe_g"], width=g["width"], speed=g["speed"],
            ))
            t_next += T
            side = -side
        next_is_gait = i + 1 < n_ph and phases[i + 1][0] != "stand"
        if not next_is_gait:
            bouts[-1]["end"] = t_next  # the would-be next touchdown: standing starts here
            bouts[-1]["last"] = len(rows) - 1
            bouts[-1]["to_stand"] = i + 1 < n_ph
    # gait changes: a contact must leave its foot a reasonable swing before its next touchdown
    for k in range(len(rows) - 2):
        a, b, nx = rows[k], rows[k + 1], rows[k + 2]
        if a["bout"] != nx["bout"] or a["gait"] == nx["gait"]:
            continue
        min_swing = 0.8 * (2 * nx["T"] - nx["tc"])
        a["tc"] = float(np.clip(a["T"] + b["T"] - min_swing, 0.5 * a["tc"], a["tc"]))
    sched = {k: np.array([r[k] for r in rows]) for k in rows[0]} if rows else {}
    return dict(c=sched, bouts=bouts, n=len(rows))


# --------------------------------------------------------------------------------------------
# forces and centre of mass


def _dense_force_bw(u, a_bw, imp_bw, q, r, tcs) -> np.ndarray:
    """Force of K contacts (BW) at normalised support times u: shape (K, len(u))."""
    uu = np.asarray(u)[None, :]
    f = a_bw[:, None] * _aj_shape(uu, q[:, None], r[:, None])
    if np.any(imp_bw > 0):
        cols = np.flatnonzero(np.asarray(u) * np.min(tcs) < 2 * _T1_IMPACT)
        if cols.size:
            f[:, cols] += imp_bw[:, None] * _impact_bell(uu[:, cols] * tcs[:, None])
    return f


def _first_crossing(u: np.ndarray, f: np.ndarray, level) -> np.ndarray:
    """First u where each row of f reaches ``level`` (rising), linearly interpolated."""
    lev = np.broadcast_to(np.asarray(level, dtype=float), (f.shape[0],))[:, None]
    above = f >= lev
    i = np.argmax(above, axis=1)
    i = np.where(above.any(axis=1), i, f.shape[1] - 1)
    rows = np.arange(f.shape[0])
    ip = np.maximum(i - 1, 0)
    fa, fb = f[rows, ip], f[rows, i]
    frac = np.where(fb != fa, (lev[:, 0] - fa) / np.where(fb != fa, fb - fa, 1.0), 0.0)
    return np.where(i > 0, u[ip] + np.clip(frac, 0, 1) * (u[i] - u[ip]), u[i])


def _force_events(a_bw, imp_bw, q, r, tcs, chunk: int = 256) -> dict:
    """Exact force-plate events per contact (normalised support time) and the active peak."""
    k = a_bw.size
    out = {name: np.empty(k) for name in ("u_on", "u_off", "peak", "u80")}
    u_head = np.linspace(0.0, 0.1, 1001)
    u_tail = np.linspace(1.0, 0.9, 1001)  # reversed: the last crossing is a first crossing
    u_all = np.linspace(0.0, 1.0, 2001)
    for s in range(0, k, chunk):
        sl = slice(s, min(s + chunk, k))
        args = (a_bw[sl], imp_bw[sl], q[sl], r[sl], tcs[sl])
        out["u_on"][sl] = _first_crossing(u_head, _dense_force_bw(u_head, *args), _CONTACT_BW)
        out["u_off"][sl] = _first_crossing(u_tail, _dense_force_bw(u_tail, *args), _CONTACT_BW)
        f = _dense_force_bw(u_all, *args)
        skip = np.where(imp_bw[sl] > 0, 2 * _T1_IMPACT / tcs[sl], 0.0)
        peak = np.max(np.where(u_all[None, :] >= skip[:, None], f, -np.inf), axis=1)
        out["peak"][sl] = peak
        out["u80"][sl] = _first_crossing(u_all, f, 0.8 * peak)
    return out


def _periodic_touchdown_velocity(T, tcs, a_n, imp_n, q, r, m, n_pts: int = 400) -> np.ndarray:
    """Vertical COM velocity at touchdown of a periodic gait made of identical steps (m/s).

    With impulse balance the COM returns to its height after a step iff
    v(touchdown) = -(double integral of a over the step) / T. Overlapping contacts (walking)
    are wrapped into the step.
    """
    k = T.size
    out = np.empty(k)
    for s in range(0, k, 256):
        sl = slice(s, min(s + 256, k))
        tl = T[sl, None] * np.linspace(0.0, 1.0, n_pts + 1)[None, :]
        fw = np.zeros_like(tl)
        n_wrap = int(np.ceil(np.max(tcs[sl] / T[sl]))) + 1
        for j in range(n_wrap):
            tj = tl + j * T[sl, None]
            fw += a_n[sl, None] * _aj_shape(tj / tcs[sl, None], q[sl, None], r[sl, None])
            if j == 0:  # the impact is over long before the step ends
                fw += imp_n[sl, None] * _impact_bell(tj)
        h = T[sl, None] / n_pts
        acc = fw / m - G
        acc -= np.sum(acc[:, 1:] + acc[:, :-1], axis=1, keepdims=True) * 0.5 * h / T[sl, None]
        vel = np.concatenate([np.zeros((acc.shape[0], 1)),
                              np.cumsum((acc[:, 1:] + acc[:, :-1]) * 0.5 * h, axis=1)], axis=1)
        z_end = np.sum(vel[:, 1:] + vel[:, :-1], axis=1) * 0.5 * h[:, 0]
        out[sl] = -z_end / T[sl]
    return out


def _build_forces(p: RunnerParams, sch: dict, t: np.ndarray, dt: float,
                  speed_on: np.ndarray) -> dict:
    """Per-contact vertical force amplitudes (feedback loop) and all force arrays."""
    m, g = p.mass_kg, G
    c = sch["c"]
    n_c = sch["n"]
    n = t.size
    t0 = t[0]
    fz = np.zeros(n)  # total vertical GRF (N)
    fz_foot = {1: np.zeros(n), -1: np.zeros(n)}
    fz_imp = np.zeros(n)
    fx = np.zeros(n)
    fx_imp = np.zeros(n)
    fy = np.zeros(n)
    fy_imp = np.zeros(n)
    fz_stand = np.zeros(n)

    def idx(time):
        # last sample at or before ``time``: a contact's first sample then carries no force,
        # so each step interval ends on a sample that the next contact does not change
        return int(np.clip(np.floor((time - t0) / dt + 1e-9), 0, n))

    # support durations: desired threshold contact plus the sub-threshold edges
    if n_c:
        q = np.array([_SHAPE[gg][0] for gg in c["gait"]])
        r = np.array([_SHAPE[gg][1] for gg in c["gait"]])
        tc0 = c["tc"]
        a_guess = c["T"] * np.pi / (2 * tc0 * (1 + q / 3))
        ev = _force_events(a_guess, c["impact_bw"], q, r, tc0)
        tc_s = tc0 * (1.0 + ev["u_on"] + (1.0 - ev["u_off"]))
    else:
        q = r = tc_s = np.zeros(0)
    t_on = c["t_on"] if n_c else np.zeros(0)
    amp = np.zeros(n_c)  # active amplitude (N)
    imp = c["impact_bw"] * m * g if n_c else np.zeros(0)
    # from the step's nominal (noise-free) timing: random step-to-step variation is left to
    # the feedback, as a runner does not retune the gait for every step
    if n_c:
        tcs_nom = tc_s * c["tc_nom"] / c["tc"]
        a_per = (m * g * c["T_nom"] - imp * _T1_IMPACT) / (tcs_nom * _aj_integral(q))
        v_per = _periodic_touchdown_velocity(c["T_nom"], tcs_nom, a_per, imp, q, r, m)
    else:
        v_per = np.zeros(0)

    # standing support (N): weight before the first bout / after each bout, ramps at the edges
    stand_on = np.ones(n, dtype=bool)
    bouts = sch["bouts"]
    for b in bouts:
        first_t = t_on[b["first"]]
        end_t = b.get("end", np.inf)
        stand_on &= ~((t >= first_t) & (t < end_t))
    fz_stand[stand_on] = m * g
    for b in bouts:
        k0 = b["first"]
        if b["after_stand"]:  # hand the weight over to the first contact
            dur = max(0.08, tc_s[k0] - c["T"][k0]) if c["gait"][k0] == "walk" else 0.12
            i0, i1 = idx(t_on[k0]), idx(t_on[k0] + dur)
            u = (t[i0:i1] - t_on[k0]) / dur
            fz_stand[i0:i1] = m * g * 0.5 * (1 + np.cos(np.pi * u))

    # sequential feedback over contacts
    z_state, v_state, i_state = 0.0, 0.0, 0
    vy_prev = 0.0
    if bouts and not bouts[0]["after_stand"]:
        z_state = _Z_REF[c["gait"][0]]
        # near the touchdown velocity of a periodic step (the pre-roll absorbs the rest)
        v_state = float(v_per[0])
    z_init, v_init = z_state, v_state
    bout_of_last = {b["last"]: b for b in bouts if "last" in b}
    bout_of_first = {b["first"]: b for b in bouts}
    for k in range(n_c):
        ton = t_on[k]
        i0 = idx(ton)
        i1 = min(idx(ton + tc_s[k]) + 1, n)
        tt = t[i0:i1]
        u = (tt - ton) / tc_s[k]
        shape = _aj_shape(u, q[k], r[k])
        bell = _impact_bell(tt - ton)
        fz_imp[i0:i1] += imp[k] * bell
        fz[i0:i1] += imp[k] * bell
        a_nom = (m * g * c["T"][k] - imp[k] * _T1_IMPACT) / (tc_s[k] * _aj_integral(q[k]))
        if k in bout_of_first and bout_of_first[k]["after_stand"]:
            vy_prev = 0.0
        # interval from this touchdown to the next one
        j1 = min(idx(ton + c["T"][k]), n - 1)
        if i0 >= n - 1 or ton < t0 or j1 <= i0:
            amp[k] = a_nom
        else:
            if i_state < i0:  # bring the state to this touchdown with the final forces
                a_seg = (fz[i_state:i0 + 1] + fz_stand[i_state:i0 + 1]) / m - g
                z_state, v_state = _integrate_end(a_seg, dt, z_state, v_state)
                i_state = i0
            sl = slice(i0, j1 + 1)
            a_known = (fz[sl] + fz_stand[sl]) / m - g
            s_unit = np.zeros(j1 + 1 - i0)
            w = min(i1, j1 + 1) - i0
            s_unit[:w] = shape[:w] / m
            k_unit = np.zeros(j1 + 1 - i0)  # skew term: moves the impulse, not its size
            k_unit[:w] = np.sin(2 * np.pi * (np.clip(u[:w], 0, 1) - 0.5)) / m
            zk, vk = _integrate_end(a_known, dt, z_state, v_state)
            zs, vs = _integrate_end(s_unit, dt, 0.0, 0.0)
            zb, vb = _integrate_end(k_unit, dt, 0.0, 0.0)
            kn = k + 1 if k + 1 < n_c and k not in bout_of_last else k
            z_ref = _Z_REF[c["gait"][kn]]
            # amplitude and skew so that the next touchdown has the periodic velocity at the
            # reference height (momentum balance + a fixed mean height)
            try:
                a_sol, b_sol = np.linalg.solve([[vs, vb], [zs, zb]],
                                               [v_per[kn] - vk, z_ref - zk])
            except np.linalg.LinAlgError:
                a_sol, b_sol = a_nom, 0.0
            a_sol = float(np.clip(a_sol, 0.3 * a_nom, 3.0 * a_nom))
            dr = float(np.clip(b_sol / a_sol, -_MAX_SKEW, _MAX_SKEW))
            if dr != b_sol / a_sol:  # skew limited: keep the momentum target exact
                den = vs + dr * vb
                a_sol = float(np.clip((v_per[kn] - vk) / den, 0.3 * a_nom, 3.0 * a_nom)
                              if den > 0 else a_nom)
            amp[k] = a_sol
            r[k] += dr
            shape = _aj_shape(u, q[k], r[k])
        f_k = amp[k] * shape + imp[k] * bell
        fz[i0:i1] += amp[k] * shape
        fz_foot[int(c["side"][k])][i0:i1] += f_k
        side = int(c["side"][k])
        vy_target = side * G * c["T"][k] * c["width"][k] / (4 * p.leg_length_m)
        if tt.size:
            # horizontal: the force points from the centre of pressure to the COM
            tot = float(np.sum(f_k))
            t_c = float(np.sum(f_k * tt) / tot) if tot > 0 else ton + tc_s[k] / 2
            gait = c["gait"][k]
            v_eff = max(0.3 * speed_on[k], speed_on[k] - _COP_TRAVEL[gait] / c["tc"][k])
            lever = v_eff * (tt - t_c) / p.leg_length_m
            fx[i0:i1] += f_k * lever
            fx_imp[i0:i1] += imp[k] * bell * lever
            # lateral: the velocity alternates symmetrically around zero
            cy = m * (vy_target - vy_prev) / (tot * dt) if tot > 0 else 0.0
            fy[i0:i1] += cy * f_k
            fy_imp[i0:i1] += cy * imp[k] * bell
        vy_prev = vy_target
        b = bout_of_last.get(k)
        if b is not None and b.get("to_stand"):
            # settle into standing: weight ramps in, then one pulse cancels the velocity
            tb, ramp = b["end"], 0.15
            ib, ir = idx(tb), idx(tb + ramp)
            if ir >= n - 1:
                continue
            uu = (t[ib:ir] - tb) / ramp
            fz_stand[ib:ir] = m * g * 0.5 * (1 - np.cos(np.pi * uu))
            if i_state < ib:
                a_seg = (fz[i_state:ib + 1] + fz_stand[i_state:ib + 1]) / m - g
                z_state, v_state = _integrate_end(a_seg, dt, z_state, v_state)
                i_state = ib
            nxt = [bb["first"] for bb in bouts if t_on[bb["first"]] > tb]
            t_stop = t_on[min(nxt)] if nxt else t[-1]
            dur = min(0.6, max(0.05, t_stop - tb - 0.05))
            i3 = min(idx(tb + dur), n - 1)
            ir = ib
            if i3 - ir < 6:
                continue
            # two smooth pulses bring the COM back to standing height at rest
            im = (ir + i3) // 2
            sl = slice(ir, i3 + 1)
            a_known = (fz[sl] + fz_stand[sl]) / m - g
            zk, vk = _integrate_end(a_known, dt, z_state, v_state)
            pulses = []
            for ia, ib_ in ((ir, im), (im, i3)):
                wv = np.zeros(i3 + 1 - ir)
                ph_ = (t[ia:ib_ + 1] - t[ia]) / (t[ib_] - t[ia])
                wv[ia - ir:ib_ + 1 - ir] = np.sin(np.pi * ph_) ** 2
                pulses.append(wv)
            ends = [_integrate_end(wv, dt, 0.0, 0.0) for wv in pulses]
            mat = np.array([[ends[0][1], ends[1][1]], [ends[0][0], ends[1][0]]])
            coef = np.linalg.solve(mat, [-vk, _Z_REF["stand"] - zk])
            fz_stand[sl] += m * (coef[0] * pulses[0] + coef[1] * pulses[1])
            wsum = float(np.sum(pulses[0] + pulses[1]) * dt)
            fy[sl] += -m * vy_prev * (pulses[0] + pulses[1]) / wsum
            vy_prev = 0.0

    fz_total = fz + fz_stand
    return dict(fz=fz_total, fz_foot=fz_foot, fz_imp=fz_imp, fx=fx, fx_imp=fx_imp, fy=fy,
                fy_imp=fy_imp, amp=amp, imp=imp, tc_s=tc_s, q=q, r=r, z0=z_init, v0=v_init)


# --------------------------------------------------------------------------------------------
# feet


def _foot_records(p: RunnerParams, sch: dict, forces: dict, side: int, t_begin: float,
                  x_at, stand_x: float) -> dict:
    """Stances of one foot (standing or contact) with roll timing, angles and placement."""
    c = sch["c"]
    recs: list[dict] = []
    y_side = side * -0.5  # right foot at -y
    bouts = sch["bouts"]
    first_bout_gait = bool(bouts) and not bouts[0]["after_stand"]
    if not first_bout_gait:
        recs.append(dict(t_on=-1e9, t_ff=-1e9, t_ho=1e9, t_off=1e9, pivot=0.0, th_ic=0.0,
                         be_ic=0.0, be_still=0.0, th_to=0.0, be_to=0.0,
                         o=np.array([stand_x, y_side * p.stand_width_m, 0.0]), contact=-1,
                         standing=True))
    mine = np.flatnonzero(c["side"] == side) if sch["n"] else np.zeros(0, dtype=int)
    last_in_bout = {}
    for k in mine:
        last_in_bout[int(c["bout"][k])] = int(k)
    for k in mine:
        gait = c["gait"][k]
        strike = c["strike"][k]
        tcs = forces["tc_s"][k]
        ton = c["t_on"][k]
        f_ff = _STRIKE_FLAT_FRAC[strike] if gait == "run" else 0.15
        f_ho = _HEELOFF_FRAC[gait]
        ev_sign = -1.0 if side == 1 else 1.0  # eversion lowers the medial edge
        pron = np.radians(c["pron"][k])
        be_ic = ev_sign * (-0.3 * pron)
        be_peak = ev_sign * (0.7 * pron)
        t_ff, t_ho = ton + f_ff * tcs, ton + f_ho * tcs
        t_mid = 0.5 * (t_ff + t_ho)
        bout = c["bout"][k]
        # continuing a previous standing stance: set its toe-off to fit this first swing
        if recs and recs[-1]["t_off"] >= 1e8:
            prev = recs[-1]
            t_sw = 2 * c["T"][k] - c["tc"][k]
            t_off = ton - max(t_sw, 0.15)
            t_off = max(t_off, prev["t_ff"] + 0.05)
            toe = (1 - f_ho) * tcs
            prev["t_off"] = t_off
            prev["t_ho"] = max(t_off - toe, prev["t_ff"] + 0.02)
            prev["th_to"] = -np.radians(c["to_angle"][k])
            prev["be_to"] = be_ic
        pivot = _STRIKE_PIVOT_X[strike] if gait == "run" else 0.0
        rec = dict(t_on=ton, t_ff=t_ff, t_ho=t_ho, t_off=ton + tcs, pivot=pivot,
                   th_ic=-np.radians(c["strike_angle"][k]), be_ic=be_ic, be_still=be_peak,
                   th_to=-np.radians(c["to_angle"][k]), be_to=be_ic,
                   o=np.array([x_at(t_mid), y_side * c["width"][k], 0.0]), contact=int(k),
                   standing=False, t_mid=t_mid, swing_h=c["swing_h"][k])
        b = bouts[bout]
        if last_in_bout[int(bout)] == k and b.get("to_stand"):
            rec["t_ho"] = rec["t_off"] = 1e9  # stays flat into standing
        recs.append(rec)
    return recs


def _foot_kinematics(recs: list[dict], t: np.ndarray):
    """Sensor position, world acceleration, orientation and body rate of one shoe."""
    nrec = len(recs)
    t_on = np.array([r["t_on"] for r in recs])
    t_ff = np.array([r["t_ff"] for r in recs])
    t_ho = np.array([r["t_ho"] for r in recs])
    t_off = np.array([r["t_off"] for r in recs])
    for j in range(nrec - 1):  # keep the boundaries ordered
        t_off[j] = min(t_off[j], t_on[j + 1] - 1e-3)
        t_ho[j] = min(t_ho[j], t_off[j])
    pivot = np.array([r["pivot"] for r in recs])
    th_ic = np.array([r["th_ic"] for r in recs])
    be_ic = np.array([r["be_ic"] for r in recs])
    be_st = np.array([r["be_still"] for r in recs])
    th_to = np.array([r["th_to"] for r in recs])
    be_to = np.array([r["be_to"] for r in recs])
    o = np.array([r["o"] for r in recs])
    swing_h = np.array([r.get("swing_h", 0.1) for r in recs])

    def roll_state(j, phase, uu):
        """Angles and derivatives in the touchdown (phase 0) or toe-off (phase 2) roll."""
        if phase == 0:
            T = np.maximum(t_ff[j] - t_on[j], 1e-6)
            w = 1.0 - uu
            gv, g1, g2 = _roll_profile(w)
            th = th_ic[j] * gv
            dth = -th_ic[j] * g1 / T
            ddth = th_ic[j] * g2 / T**2
            db = be_ic[j] - be_st[j]
            be = be_st[j] + db * gv
            dbe = -db * g1 / T
            ddbe = db * g2 / T**2
            px = pivot[j]
        else:
            T = np.maximum(t_off[j] - t_ho[j], 1e-6)
            gv, g1, g2 = _roll_profile(uu)
            th, dth, ddth = th_to[j] * gv, th_to[j] * g1 / T, th_to[j] * g2 / T**2
            db = be_to[j] - be_st[j]
            be, dbe, ddbe = be_st[j] + db * gv, db * g1 / T, db * g2 / T**2
            px = np.full(np.shape(j), _BALL_X)
        return th, dth, ddth, be, dbe, ddbe, px

    def roll_pos(j, phase, uu):
        th, dth, ddth, be, dbe, ddbe, px = roll_state(j, phase, uu)
        rot = _foot_rotation(th, be)
        om, al = _foot_rates(th, be, dth, dbe, ddth, ddbe)
        piv = np.stack([px, np.zeros_like(px), np.zeros_like(px)], axis=-1)
        rel = _SENSOR_FOOT[None, :] - piv  # pivot -> sensor, foot frame
        pos = o[j] + piv + np.einsum("nij,nj->ni", rot, rel)
        vel = np.einsum("nij,nj->ni", rot, _cross(om, rel))
        acc_b = _cross(al, rel) + _cross(om, _cross(om, rel))
        acc = np.einsum("nij,nj->ni", rot, acc_b)
        return pos, vel, acc, rot, om, (th, dth, ddth, be, dbe, ddbe)

    # swing quintics between stance j (toe-off) and j+1 (touchdown)
    js = np.arange(nrec - 1)
    if js.size:
        p_a, v_a, a_a, _, _, ang_a = roll_pos(js, 2, np.ones(js.size))
        p_b, v_b, a_b, _, _, ang_b = roll_pos(js + 1, 0, np.zeros(js.size))
        T_sw = t_on[js + 1] - t_off[js]
        coef_p = _quintic_coeffs(p_a, v_a, a_a, p_b, v_b, a_b, T_sw[:, None])
        coef_th = _quintic_coeffs(ang_a[0], ang_a[1], ang_a[2], ang_b[0], ang_b[1], ang_b[2],
                                  T_sw)
        coef_be = _quintic_coeffs(ang_a[3], ang_a[4], ang_a[5], ang_b[3], ang_b[4], ang_b[5],
                                  T_sw)
    bounds = np.stack([t_on, t_ff, t_ho, t_off], axis=1).ravel()
    seg = np.clip(np.searchsorted(bounds, t, side="right") - 1, 0, 4 * nrec - 1)
    cat, j = seg % 4, seg // 4
    n = t.size
    pos = np.zeros((n, 3))
    acc = np.zeros((n, 3))
    rot = np.zeros((n, 3, 3))
    om = np.zeros((n, 3))
    for phase in (0, 2):
        mk = np.flatnonzero(cat == phase)
        if mk.size:
            jj = j[mk]
            t_a = t_on[jj] if phase == 0 else t_ho[jj]
            t_b = t_ff[jj] if phase == 0 else t_off[jj]
            uu = np.clip((t[mk] - t_a) / np.maximum(t_b - t_a, 1e-9), 0.0, 1.0)
            pp, _, aa, rr, ww, _ = roll_pos(jj, phase, uu)
            pos[mk], acc[mk], rot[mk], om[mk] = pp, aa, rr, ww
    mk = np.flatnonzero(cat == 1)
    if mk.size:
        jj = j[mk]
        zeros = np.zeros(mk.size)
        rr = _foot_rotation(zeros, be_st[jj])
        pos[mk] = o[jj] + np.einsum("nij,j->ni", rr, _SENSOR_FOOT)
        rot[mk] = rr
    mk = np.flatnonzero(cat == 3)
    mk = mk[j[mk] < nrec - 1]
    if mk.size:
        jj = j[mk]
        T = T_sw[jj]
        uu = np.clip((t[mk] - t_off[jj]) / T, 0.0, 1.0)
        for ax in range(3):
            pv, _, av = _quintic_eval(coef_p[jj, ax], uu, T)
            pos[mk, ax], acc[mk, ax] = pv, av
        bump = 64 * uu**3 * (1 - uu) ** 3
        ddbump = 64 * (6 * uu * (1 - uu) ** 3 - 18 * uu**2 * (1 - uu) ** 2
                       + 6 * uu**3 * (1 - uu)) / T**2
        pos[mk, 2] += swing_h[jj + 1] * bump
        acc[mk, 2] += swing_h[jj + 1] * ddbump
        th, dth, ddth = _quintic_eval(coef_th[jj], uu, T)
        be, dbe, ddbe = _quintic_eval(coef_be[jj], uu, T)
        rot[mk] = _foot_rotation(th, be)
        om[mk] = _foot_rates(th, be, dth, dbe, ddth, ddbe)[0]
    return pos, acc, rot, om


# --------------------------------------------------------------------------------------------
# main entry


def _phase_table(p: RunnerParams) -> list[tuple[str, float, float]]:
    out, t = [], 0.0
    for kind, dur in p.phases:
        out.append((kind, t, t + float(dur)))
        t += float(dur)
    return out


def _mount(p: RunnerParams, placement: str, rng: np.random.Generator) -> np.ndarray:
    if isinstance(p.mounting, dict):
        if placement in p.mounting:
            r = np.asarray(p.mounting[placement], dtype=float).reshape(3, 3)
            if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
                raise ImuHipError(f"mounting[{placement!r}] is not a rotation matrix")
            return r
        return np.eye(3)
    if p.mounting == "identity":
        return np.eye(3)
    if p.mounting == "random":
        return Rotation.random(random_state=rng).as_matrix()
    raise ImuHipError(f"mounting must be 'random', 'identity' or a dict, got {p.mounting!r}")


def simulate(params: RunnerParams | None = None, seed: int = 0,
             placements: tuple[str, ...] = ("sacrum", "left_foot", "right_foot")) -> Simulation:
    """Simulate a runner wearing a sacral IMU and two shoe IMUs; see the module docstring.

    ``placements`` selects which sensors to produce (truth is always complete). Deterministic
    for a given ``params`` and ``seed``.
    """
    p = params if params is not None else RunnerParams()
    for pl in placements:
        if pl not in SENSOR_IDS:
            raise ImuHipError(f"cannot simulate placement {pl!r}; use {', '.join(SENSOR_IDS)}")
    root = np.random.default_rng(seed)
    streams = root.spawn(10)
    rng_sched = streams[0]
    rng_mount = {"sacrum": streams[1], "left_foot": streams[2], "right_foot": streams[3]}
    rng_noise = {"sacrum": streams[4], "left_foot": streams[5], "right_foot": streams[6]}

    m = p.mass_kg
    dt = 1.0 / p.rate_hz
    phases = _phase_table(p)
    duration = phases[-1][2]
    pre = 4.0 if phases[0][0] != "stand" else 0.5
    post = 1.0
    n_int = int(np.ceil((duration + pre + post) * p.rate_hz))
    k_pre = int(np.ceil(pre * p.rate_hz))
    t = (np.arange(n_int) - k_pre) * dt  # internal true time; 0 = recording start
    n_rec = int(np.floor(duration * p.rate_hz + 1e-9))
    rec_sl = slice(k_pre, k_pre + n_rec)

    sch = _schedule(p, phases, t[0], rng_sched)
    c = sch["c"]
    bouts = sch["bouts"]

    # forward speed profile (cosine knots): 0 standing, gait speed in bouts
    sk_t, sk_v = [], []
    prev_speed = 0.0 if phases[0][0] == "stand" else _gait_values(p, phases[0][0])["speed"]
    sk_t.append(t[0] - 10.0)
    sk_v.append(prev_speed)
    for i in range(sch["n"]):
        if i == 0 or c["gait"][i] != c["gait"][i - 1] or c["bout"][i] != c["bout"][i - 1]:
            v_new = c["speed"][i]
            t_a = max(c["t_on"][i], sk_t[-1] + 1e-3)
            if v_new != sk_v[-1]:
                sk_t += [t_a, t_a + 2.5]
                sk_v += [sk_v[-1], v_new]
        if i in [b.get("last") for b in bouts if b.get("to_stand")]:
            b = next(bb for bb in bouts if bb.get("last") == i)
            t_e = b["end"]
            t_a = max(t_e - 2.0, sk_t[-1] + 1e-3)
            sk_t += [t_a, t_e]
            sk_v += [sk_v[-1], 0.0]
    sk_t, sk_v = np.array(sk_t), np.array(sk_v)

    speed, dspeed, _ = _cos_interp(sk_t, sk_v, t)
    speed_on = _cos_interp(sk_t, sk_v, c["t_on"])[0] if sch["n"] else np.zeros(0)

    f = _build_forces(p, sch, t, dt, speed_on)

    # centre of mass (world)
    a_com = np.stack([f["fx"] / m + dspeed, f["fy"] / m, f["fz"] / m - G], axis=1)
    v_z = _cumtrapz(a_com[:, 2], dt, f["v0"])
    z_com = _cumtrapz(v_z, dt, f["z0"])
    # forward velocity: speed profile plus the braking/propulsion ripple, whose mean over each
    # step is removed (a constant per step: the ripple's acceleration is unchanged)
    ripple = _cumtrapz(f["fx"] / m, dt)
    if sch["n"] > 1:
        edges = np.searchsorted(t, c["t_on"])
        sums = np.add.reduceat(ripple, np.clip(edges, 0, t.size - 1))
        counts = np.diff(np.append(np.clip(edges, 0, t.size - 1), t.size))
        means = sums / np.maximum(counts, 1)
        mids = np.clip(c["t_on"] + 0.5 * c["T"], t[0], t[-1])
        ok = (counts > 1) & (edges < t.size)
        if np.count_nonzero(ok) > 1:
            ripple = ripple - np.interp(t, mids[ok], means[ok])
    vx = speed + ripple
    x_com = _cumtrapz(vx, dt)

    def x_at(time):
        time = np.asarray(time, dtype=float)
        x = np.interp(time, t, x_com)
        x = np.where(time < t[0], x_com[0] + speed[0] * (time - t[0]), x)
        return np.where(time > t[-1], x_com[-1] + speed[-1] * (time - t[-1]), x)

    # two-mass soft tissue: impact forces excite the pelvis relative to the upper body
    w_n = 2 * np.pi * p.trunk_freq_hz
    den = [1.0, 2 * p.trunk_damping * w_n, w_n**2]
    # m_low such that a rear-foot impact of grf_impact_bw gives a sacral excess of impact_g:
    # excess(t) = (1/m_low - 1/m) * (h * F1)(t), h = s^2 / (s^2 + 2 zeta w s + w^2)
    fs_fine = 20000.0
    bf, af = _sig.bilinear([1.0, 0.0, 0.0], den, fs=fs_fine)
    bell = _impact_bell(np.arange(0.0, 0.3, 1.0 / fs_fine))
    rho = float(np.max(_sig.lfilter(bf, af, bell)))
    impact_ref = p.grf_impact_bw if p.grf_impact_bw > 0 else 0.7
    m_low = m / (1.0 + max(p.impact_g, 0.0) / (impact_ref * rho))
    m_up = m - m_low
    bd, ad = _sig.bilinear([1.0 / m_low], den, fs=p.rate_hz)
    ba, aa = _sig.bilinear([1.0 / m_low, 0.0, 0.0], den, fs=p.rate_hz)
    f_imp = np.stack([f["fx_imp"], f["fy_imp"], f["fz_imp"]], axis=1)
    tissue_d = (m_up / m) * _sig.lfilter(bd, ad, f_imp, axis=0)
    tissue_a = (m_up / m) * _sig.lfilter(ba, aa, f_imp, axis=0)

    # pelvis angles from per-step knots
    knots = {"tilt": ([], []), "obl": ([], []), "rot": ([], [])}

    def add(name, tk, yk):
        knots[name][0].append(tk)
        knots[name][1].append(yk)

    for b in bouts:
        k0 = b["first"]
        k1 = b.get("last", sch["n"] - 1)
        if b["after_stand"]:
            for name in knots:
                add(name, c["t_on"][k0] - 0.3, 0.0)
        for k in range(k0, k1 + 1):
            side, ton, T = c["side"][k], c["t_on"][k], c["T"][k]
            add("obl", ton + 0.4 * f["tc_s"][k], -side * np.radians(c["drop"][k]))
            add("tilt", ton + 0.2 * T, np.radians(c["tilt_off"][k] - c["tilt"][k] / 2))
            add("tilt", ton + 0.7 * T, np.radians(c["tilt_off"][k] + c["tilt"][k] / 2))
            add("rot", ton, side * np.radians(c["rot"][k]) / 2)
        if b.get("to_stand"):
            for name in knots:
                add(name, b["end"] + 0.3, 0.0)
    ang = {}
    for name, (tk, yk) in knots.items():
        tk, yk = np.array(tk), np.array(yk)
        order = np.argsort(tk, kind="stable")
        ang[name] = _cos_interp(tk[order], yk[order], t)
    th, dth, _ = ang["tilt"]
    ph, dph, _ = ang["obl"]
    ps, dps, _ = ang["rot"]
    r_p = pelvis_rotation_matrix(th, ph, ps)
    w_b = _pelvis_body_rate(th, ph, ps, dth, dph, dps)
    al_b = np.gradient(w_b, dt, axis=0)
    r_s = np.asarray(p.sacrum_offset_m, dtype=float)
    lever_b = _cross(al_b, r_s) + _cross(w_b, _cross(w_b, r_s))
    a_lever = np.einsum("nij,nj->ni", r_p, lever_b)
    a_sac = a_com + tissue_a + a_lever
    z_sac = z_com + tissue_d[:, 2] + np.einsum("nj,j->n", r_p[:, 2, :], r_s) - r_s[2]
    prop_w = a_sac + np.array([0.0, 0.0, G])
    acc_body_sac = np.einsum("nji,nj->ni", r_p, prop_w)

    signals: dict[str, np.ndarray] = {
        "t_s": t[rec_sl] + p.start_time_s,
        "pelvis_tilt_deg": np.degrees(th[rec_sl]),
        "pelvis_obliquity_deg": np.degrees(ph[rec_sl]),
        "pelvis_rotation_deg": np.degrees(ps[rec_sl]),
        "sacrum_z_m": z_sac[rec_sl],
        "sacrum_acc_world_mps2": prop_w[rec_sl],
        "sacrum_acc_body_mps2": acc_body_sac[rec_sl],
        "sacrum_gyr_body_rads": w_b[rec_sl],
        "grf_left_bw": f["fz_foot"][-1][rec_sl] / (m * G),
        "grf_right_bw": f["fz_foot"][1][rec_sl] / (m * G),
        "grf_total_bw": np.stack([f["fx"], f["fy"], f["fz"]], axis=1)[rec_sl] / (m * G),
    }

    body: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "sacrum" in placements:
        body["sacrum"] = (acc_body_sac[rec_sl], w_b[rec_sl])
    stand_x = float(x_com[0])
    for pl, side in (("left_foot", -1), ("right_foot", 1)):
        if pl not in placements:
            continue
        recs = _foot_records(p, sch, f, side, t[0], x_at, stand_x)
        tt = t[rec_sl]
        pos, acc_w, rot_f, om_f = _foot_kinematics(recs, tt)
        for rec in recs:  # shock at each touchdown
            if rec["standing"]:
                continue
            k = rec["contact"]
            t0k = rec["t_on"]
            i0 = np.searchsorted(tt, t0k)
            i1 = np.searchsorted(tt, t0k + 0.12)
            if i1 <= i0:
                continue
            a_sh, d_sh = _shock(tt[i0:i1] - t0k, 0.003, 0.035)
            amp = c["shoe_g"][k] * G
            direc = np.array([-0.3, 0.0, 1.0]) / np.hypot(0.3, 1.0)
            acc_w[i0:i1] += amp * a_sh[:, None] * direc
            pos[i0:i1] += amp * d_sh[:, None] * direc
        prop = acc_w + np.array([0.0, 0.0, G])
        body[pl] = (np.einsum("nji,nj->ni", rot_f, prop), om_f)
        signals[f"{pl}_pos_m"] = pos
        signals[f"{pl}_pitch_deg"] = np.degrees(np.arcsin(np.clip(rot_f[:, 2, 0], -1, 1)))
        signals[f"{pl}_eversion_deg"] = (np.degrees(np.arctan2(rot_f[:, 2, 1], rot_f[:, 2, 2]))
                                         * (-1.0 if side == 1 else 1.0))
        signals[f"{pl}_acc_body_mps2"] = body[pl][0]
        signals[f"{pl}_gyr_body_rads"] = om_f

    # sensors: mounting, noise, bias, range, timestamps, drops, gaps
    sensors, mounting, biases = [], {}, {}
    t_true = t[rec_sl] + p.start_time_s
    for pl in ("sacrum", "left_foot", "right_foot"):
        if pl not in placements:
            continue
        r_m = _mount(p, pl, rng_mount[pl])
        mounting[pl] = r_m
        rn = rng_noise[pl]
        acc_b, gyr_b = body[pl]
        acc_s = acc_b @ r_m  # sensor = R^T body, row-wise
        gyr_s = gyr_b @ r_m
        nn = acc_s.shape[0]
        acc_s = acc_s + p.acc_noise_mps2 * rn.standard_normal((nn, 3))
        if p.gyr_bias_rads is None:
            bias = p.gyr_bias_sd_rads * rn.standard_normal(3)
        else:
            bias = np.asarray(p.gyr_bias_rads, dtype=float).reshape(3)
        biases[pl] = bias
        gyr_s = gyr_s + bias + p.gyr_noise_rads * rn.standard_normal((nn, 3))
        if p.acc_range_g:
            acc_s = np.clip(acc_s, -p.acc_range_g * G, p.acc_range_g * G)
        if p.gyr_range_rads:
            gyr_s = np.clip(gyr_s, -p.gyr_range_rads, p.gyr_range_rads)
        jit = p.clock_jitter_s * rn.standard_normal(nn)
        host_t = t_true + np.clip(jit, -0.45 * dt, 0.45 * dt)
        keep = np.ones(nn, dtype=bool)
        if p.drop_prob > 0:
            keep[1:-1] &= rn.random(nn - 2) >= p.drop_prob
        for g0, gd in p.gaps:
            keep &= ~((t_true >= p.start_time_s + g0) & (t_true < p.start_time_s + g0 + gd))
        sensors.append(SensorRecording(
            sensor_id=SENSOR_IDS[pl], placement=pl, rate_hz=p.rate_hz, t_s=host_t[keep],
            acc_mps2=acc_s[keep], gyr_rads=gyr_s[keep] if p.include_gyro else None,
            metadata={"simulated": "true", "source": "imu_hip.sim"}))

    truth = _truth(p, sch, f, t, dt, rec_sl, z_sac, prop_w, a_sac, ph, th, ps, x_com, duration)
    recording = Recording(sensors=sensors, metadata={"source": "imu_hip.sim", "seed": str(seed)})
    ph_out = [(k, a + p.start_time_s, b + p.start_time_s) for k, a, b in phases]
    return Simulation(recording=recording, truth=truth, phases=ph_out, mounting=mounting,
                      gyr_bias_rads=biases, signals=signals, params=p, seed=seed)


# --------------------------------------------------------------------------------------------
# truth


def _truth(p, sch, f, t, dt, rec_sl, z_sac, prop_w, a_sac, ph, th, ps, x_com, duration):
    c = sch["c"]
    n_c = sch["n"]
    m = p.mass_kg
    names = ["t_ic_s", "t_to_s", "side", "gait", "step_time_s", "contact_time_s",
             "flight_time_s", "cadence_spm", "duty_factor", "vertical_oscillation_m",
             "impact_peak_g", "vgrf_peak_bw", "loading_rate_bw_s", "braking_peak_g",
             "pelvic_tilt_rom_deg", "pelvic_obliquity_rom_deg", "pelvic_rotation_rom_deg",
             "pelvic_drop_deg", "foot_strike_angle_deg", "stride_length_m", "speed_mps",
             "pronation_excursion_deg", "t_midstance_s", "t_touchdown_s", "t_liftoff_s",
             "fully_recorded"]
    if n_c == 0:
        out = {k: np.zeros(0) for k in names}
        out["side"] = np.zeros(0, dtype="<U5")
        out["gait"] = np.zeros(0, dtype="<U4")
        out["fully_recorded"] = np.zeros(0, dtype=bool)
        return out

    # exact force-plate events of the analytic force
    ev = _force_events(f["amp"] / (m * G), f["imp"] / (m * G), f["q"], f["r"], f["tc_s"])
    t_ic = c["t_on"] + ev["u_on"] * f["tc_s"]
    t_to = c["t_on"] + ev["u_off"] * f["tc_s"]
    peak = ev["peak"]
    t80 = c["t_on"] + ev["u80"] * f["tc_s"]
    lr = (0.8 * peak - _CONTACT_BW) / np.maximum(t80 - t_ic, 1e-6)

    # which contacts have a next touchdown in the same chain of bouts
    has_next = np.zeros(n_c, dtype=bool)
    last_of = {b["last"] for b in sch["bouts"] if "last" in b}
    for k in range(n_c - 1):
        has_next[k] = k not in last_of
    # Every contact recorded from touchdown to lift-off gets a row; the last contact of a bout
    # (or of the recording) has no next contact, so its step columns are NaN.
    rows = np.flatnonzero((t_ic >= 0.0) & (t_to <= duration))
    next_t = np.append(t_ic[1:], np.inf)
    has_step = has_next[rows] & (next_t[rows] <= duration)

    tr = t[rec_sl]
    zs, pw, asx = z_sac[rec_sl], prop_w[rec_sl, 2], a_sac[rec_sl, 0]
    ph_d, th_d, ps_d = np.degrees(ph[rec_sl]), np.degrees(th[rec_sl]), np.degrees(ps[rec_sl])
    side_r = c["side"][rows].astype(float)

    def win(x, t_a, t_b, ufunc):
        """ufunc.reduce of x over the samples with t_a <= t <= t_b, per row (NaN if empty)."""
        ia = np.searchsorted(tr, t_a)
        ib = np.searchsorted(tr, t_b, side="right")
        return _window_reduce(x, ia, ib, ufunc)

    step_end = np.where(has_step, next_t[rows], t_to[rows])
    vo = win(zs, t_ic[rows], step_end, np.maximum) - win(zs, t_ic[rows], step_end, np.minimum)
    roms = [win(x, t_ic[rows], step_end, np.maximum) - win(x, t_ic[rows], step_end, np.minimum)
            for x in (th_d, ph_d, ps_d)]
    tilt_rom, obl_rom, rot_rom = roms
    imp_g = win(pw, t_ic[rows], t_ic[rows] + 0.06, np.maximum) / G
    brk = np.maximum(0.0, -win(asx, t_ic[rows], t_to[rows], np.minimum) / G)
    # drop of the swing side: right stance (side +1) -> obliquity negative
    drop = np.where(side_r > 0, -win(ph_d, t_ic[rows], t_to[rows], np.minimum),
                    win(ph_d, t_ic[rows], t_to[rows], np.maximum))

    # foot truth: stride = displacement between consecutive still phases of the same foot
    stride = np.full(n_c, np.nan)
    t_mid = np.empty(n_c)
    for k in range(n_c):
        strike = c["strike"][k]
        f_ff = _STRIKE_FLAT_FRAC[strike] if c["gait"][k] == "run" else 0.15
        f_ho = _HEELOFF_FRAC[c["gait"][k]]
        t_mid[k] = c["t_on"][k] + 0.5 * (f_ff + f_ho) * f["tc_s"][k]
    x_mid = np.interp(t_mid, t, x_com)
    prev_of = {}
    for k in range(n_c):
        key = (int(c["side"][k]), int(c["bout"][k]))
        if key in prev_of:
            stride[k] = x_mid[k] - x_mid[prev_of[key]]
        prev_of[key] = k
    x_ic = np.interp(t_ic, t, x_com)

    rk = rows
    nk = np.where(has_step, rows + 1, rows)
    nan_no_step = np.where(has_step, 1.0, np.nan)
    vo, tilt_rom, obl_rom, rot_rom = (x * nan_no_step for x in (vo, tilt_rom, obl_rom, rot_rom))
    step_t = (t_ic[nk] - t_ic[rk]) * nan_no_step
    contact = t_to[rk] - t_ic[rk]
    fully = np.ones(rows.size, dtype=bool)
    for g0, gd in p.gaps:
        fully &= ~((t_ic[rk] < g0 + gd) & (step_end > g0))
    s0 = p.start_time_s
    return {
        "t_ic_s": t_ic[rk] + s0,
        "t_to_s": t_to[rk] + s0,
        "side": np.where(c["side"][rk] > 0, "right", "left").astype("<U5"),
        "gait": c["gait"][rk].astype("<U4"),
        "step_time_s": step_t,
        "contact_time_s": contact,
        "flight_time_s": (t_ic[nk] - t_to[rk]) * nan_no_step,
        "cadence_spm": 60.0 / step_t,
        "duty_factor": contact / (2.0 * step_t),
        "vertical_oscillation_m": vo,
        "impact_peak_g": imp_g,
        "vgrf_peak_bw": peak[rk],
        "loading_rate_bw_s": lr[rk],
        "braking_peak_g": brk,
        "pelvic_tilt_rom_deg": tilt_rom,
        "pelvic_obliquity_rom_deg": obl_rom,
        "pelvic_rotation_rom_deg": rot_rom,
        "pelvic_drop_deg": drop,
        "foot_strike_angle_deg": c["strike_angle"][rk].astype(float),
        "stride_length_m": stride[rk],
        "speed_mps": (x_ic[nk] - x_ic[rk]) / step_t,
        "pronation_excursion_deg": c["pron"][rk].astype(float),
        "t_midstance_s": t_mid[rk] + s0,
        "t_touchdown_s": c["t_on"][rk] + s0,
        "t_liftoff_s": c["t_on"][rk] + f["tc_s"][rk] + s0,
        "fully_recorded": fully,
    }


def demo_params(minutes: float = 10.0) -> RunnerParams:
    """A demo session of ``minutes`` (default 10): 20 s standing, 30 s walking, then running.

    Pelvic drop grows with fatigue from 4 deg to 8 deg by the end, cadence drifts down and
    contact time up a little, a little left/right asymmetry (right contact +3 %, right-stance
    drop +1 deg), realistic sensor noise, gyro bias (sd 0.01 rad/s), random mounting, 0.5 ms
    timestamp jitter and a few dropped samples.
    """
    run_s = float(minutes) * 60.0 - 50.0
    if not run_s >= 10.0:
        raise ImuHipError(f"demo_params needs at least 1 minute, got {minutes}")
    return RunnerParams(
        phases=(("stand", 20.0), ("walk", 30.0), ("run", run_s)),
        pelvic_drop_deg=4.0,
        fatigue_drop_deg_per_min=4.0 / (run_s / 60.0),
        fatigue_cadence_spm_per_min=-0.4,
        fatigue_contact_pct_per_min=0.4,
        asym_contact_pct=3.0,
        asym_drop_deg=1.0,
        acc_noise_mps2=0.05,
        gyr_noise_rads=0.005,
        gyr_bias_sd_rads=0.01,
        clock_jitter_s=0.0005,
        drop_prob=0.0005,
    )
