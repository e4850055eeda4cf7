""""What this may mean for your hip": flags for known running risk factors, worded to inform.

Each flag states the threshold used, the evidence behind it, what the measurement itself can and
cannot resolve, and plain words. Where a study gives no cut-off, the threshold is our own choice
and the flag says so; no numbers are attributed to a study that it did not report. None of this
is a diagnosis: the flags point at things worth watching or discussing with a professional.

Measurement uncertainties quoted come from imu-hip's own validation (README, "Accuracy on real
data"): sacral contact time RMSE 14.5 ms and vGRF active-peak MAPE 4.3 % against a force treadmill
(one runner, 122 contacts, Alcantara et al. 2022 data), cadence error 0.12 spm; pelvic angles are
validated on the simulator only; loading rate is a trend indicator (errors above 25 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imu_hip.report.data import METRICS, MIN_RUNNING, MetricStats, RunData

# Thresholds (each one's origin is given in its flag's text).
CADENCE_LOW_SPM = 160.0  # our prompt; the evidence is relative (+5-10 %), not a cut-off
PELVIC_DROP_DEG = 6.0  # our prompt; Bramah 2018 reports a graded association, no cut-off
ASYMMETRY_PCT = 10.0  # our choice: well above the side offsets we measured (~1-2 %)
ASYMMETRY_ANGLE_DEG = 2.0  # for angles near zero a percentage is unstable; absolute difference
IMPACT_RISE_PCT = 10.0  # within-run rise of the vGRF / impact medians, first vs last 10 %
FATIGUE_MIN_RUN_S = 600.0  # drift is not assessed on runs shorter than 10 minutes of running
FATIGUE_LIMITS = {  # metric: (change that is flagged, unit, direction that is flagged)
    "cadence_spm": (-3.0, "%", "fall"),
    "contact_time_s": (5.0, "%", "rise"),
    "pelvic_drop_deg": (1.5, "deg", "rise"),
    "vertical_oscillation_m": (10.0, "%", "rise"),
    "foot_strike_angle_deg": (3.0, "deg", "rise"),
}

STATUS = ("flag", "ok", "not assessed")

HEIDERSCHEIT = (
    "Heiderscheit et al. 2011 (Med Sci Sports Exerc 43:296-302): raising step rate 5-10 % above a "
    "runner's preferred rate reduced the loading of the knee and hip in the lab."
)
NAPIER = (
    "Napier et al. 2018 (Scand J Med Sci Sports): higher braking forces were associated with "
    "running injury in female recreational runners (force-plate measurements)."
)
DAVIS = (
    "Davis et al. 2016 (Br J Sports Med 50:887-892, prospective, 249 female runners): impact "
    "loading (force-plate impact peak and loading rates) was higher in runners who later had "
    "medically diagnosed injuries than in those never injured (no difference when all injured "
    "runners were compared with all uninjured). The study's cut-off, an average loading rate "
    "above 66 BW/s, needs a force plate: our loading rate is a trend indicator and is not "
    "compared with it."
)
BRAMAH = (
    "Bramah et al. 2018 (Am J Sports Med 46:3023-3031): injured runners (72, four common "
    "soft-tissue injuries) showed more contralateral pelvic drop than 36 uninjured runners; each "
    "extra degree raised the odds of being in the injured group (case-control, so not proof of "
    "cause)."
)
NOEHREN = (
    "Noehren et al. 2007 (Clin Biomech 22:951-956, prospective): female runners who developed "
    "iliotibial band syndrome had greater hip adduction; Noehren et al. 2012 (Clin Biomech): "
    "greater hip adduction in female runners with patellofemoral pain. Pelvic drop is one part "
    "of this frontal-plane hip motion."
)
ZIFCHOCK = (
    "Zifchock et al. 2006 (J Biomech) compared left/right kinetic asymmetry in runners with and "
    "without a history of tibial stress fracture; uninjured runners are not perfectly "
    "symmetric either, so a small asymmetry is normal."
)
FATIGUE_EVIDENCE = (
    "Clansey et al. 2012 (Med Sci Sports Exerc 44:1917-1923) studied how fatigue changes running "
    "mechanics associated with tibial stress fracture risk. No study gives a within-run change "
    "that marks injury risk, so the limits below are ours: changes clearly larger than the "
    "measurement noise of a median over many steps."
)


@dataclass
class Flag:
    """One risk-factor check: status is ``flag``, ``ok`` or ``not assessed``."""

    key: str
    title: str
    status: str
    finding: str
    threshold: str
    evidence: str
    uncertainty: str
    meaning: str


def _stats(run: RunData, group: str, name: str) -> MetricStats | None:
    """Statistics over the running rows only: the flags' thresholds are for running, so a
    group with fewer than :data:`~imu_hip.report.data.MIN_RUNNING` running rows gives None."""
    g = run.groups.get(group)
    if g is None:
        return None
    gait = np.asarray(g.columns.get("gait", np.full(len(g), "unknown")), str)
    if (gait == "run").sum() < MIN_RUNNING:
        return None
    return run.stats(group, name)


def _f(x: float, digits: int = 1) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def cadence_flag(run: RunData) -> Flag:
    s = _stats(run, "hip", "cadence_spm")
    if s is None:
        s = _stats(run, "shoes", "cadence_spm")
    threshold = (
        f"running cadence below {CADENCE_LOW_SPM:.0f} steps/min. This number is our prompt, "
        "not a cut-off from a study: the evidence is about raising your own cadence by 5-10 %."
    )
    uncertainty = "cadence error 0.12 steps/min (force treadmill); braking is a trunk "
    uncertainty += "acceleration, not a force, and has no validated threshold here."
    if s is None:
        return Flag("cadence", "Low cadence / overstriding and braking", "not assessed",
                    f"no running cadence (fewer than {MIN_RUNNING} running steps)", threshold,
                    HEIDERSCHEIT + " " + NAPIER, uncertainty, "Nothing to say for this run.")
    lo, hi = 1.05 * s.median, 1.10 * s.median
    finding = f"median running cadence {_f(s.median, 0)} steps/min"
    b = _stats(run, "hip", "braking_peak_g")
    if b is not None:
        finding += (
            f"; braking peak {_f(b.median, 2)} g (first 10 % {_f(b.start, 2)}, last 10 % "
            f"{_f(b.end, 2)})"
        )
    fs = _stats(run, "shoes", "foot_strike_angle_deg")
    if fs is not None:
        finding += f"; foot-strike angle {_f(fs.median)} deg"
    flagged = s.median < CADENCE_LOW_SPM
    meaning = (
        f"A lower cadence usually goes with longer strides that land further ahead of the body, "
        f"which brakes more and loads the hip and knee more. If you want to try a change, "
        f"{_f(lo, 0)}-{_f(hi, 0)} steps/min (+5-10 %) is the range studied; change gradually."
        if flagged
        else "Your cadence is not low by this prompt. Braking and cadence are shown for "
        "comparison with later runs."
    )
    return Flag("cadence", "Low cadence / overstriding and braking",
                "flag" if flagged else "ok", finding, threshold,
                HEIDERSCHEIT + " " + NAPIER, uncertainty, meaning)


def impact_flag(run: RunData) -> Flag:
    threshold = (
        f"the median vGRF peak (or impact peak) rising more than {IMPACT_RISE_PCT:.0f} % from the "
        "first to the last 10 % of the run. Our choice: the study's force-plate loading rates "
        "cannot be reproduced by a body-worn sensor, so no absolute cut-off is applied; a rise "
        "within one run is measured with the same sensor and mounting."
    )
    uncertainty = (
        "vGRF active peak: 4.3 % mean absolute error per step against a force treadmill (one "
        "runner); the loading rate is a trend indicator only (published errors above 25 %) and is "
        "never compared with a study's value; impact peaks depend on how tightly the sensor sits."
    )
    parts, flagged, assessed = [], False, False
    for group, name, label, unit, digits in (
        ("hip", "vgrf_peak_bw", "vGRF peak", "BW", 2),
        ("hip", "impact_peak_g", "sacral impact peak", "g", 2),
        ("shoes", "impact_peak_g", "shoe impact peak", "g", 1),
        ("hip", "loading_rate_bw_s", "loading rate (trend only)", "BW/s", 0),
    ):
        s = _stats(run, group, name)
        if s is None:
            continue
        assessed = True
        parts.append(
            f"{label} {_f(s.median, digits)} {unit} (first 10 % {_f(s.start, digits)}, last 10 % "
            f"{_f(s.end, digits)}, {_f(s.drift_pct)} %)"
        )
        if name != "loading_rate_bw_s" and s.drift_pct > IMPACT_RISE_PCT:
            flagged = True
    status = "flag" if flagged else "ok" if assessed else "not assessed"
    meaning = (
        "Impact rose during the run. Heavier landings late in a run often come with tiredness; "
        "shorter runs, a slightly higher cadence or softer surfaces are common ways to keep it "
        "down. One run does not mean a problem: watch whether it repeats."
        if flagged
        else "No rise in impact during this run. The values are shown to compare with your "
        "other runs (see imu-hip history)."
        if assessed
        else "No impact measure is available in this run."
    )
    return Flag("impact", "High or rising impact", status, "; ".join(parts) or "not measured",
                threshold, DAVIS, uncertainty, meaning)


def pelvic_drop_flag(run: RunData) -> Flag:
    s = _stats(run, "hip", "pelvic_drop_deg")
    threshold = (
        f"median pelvic drop above {PELVIC_DROP_DEG:.0f} deg, or one side more than "
        f"{ASYMMETRY_ANGLE_DEG:.0f} deg above the other. Both numbers are our prompts: the "
        "study reports a graded association (more drop, higher odds), not a safe limit."
    )
    uncertainty = (
        "pelvic drop is validated on the simulator only (0.1 deg per step); no real running data "
        "with a gyroscope and a pelvis reference was available. It needs a gyroscope and a "
        "correct forward direction (see data quality); without a standing phase at the start it "
        "is relative to the running average, which reads lower than a standing reference."
    )
    if s is None:
        reason = (
            run.groups["hip"].unavailable.get("pelvic_drop_deg", "not enough running steps")
            if "hip" in run.groups
            else "no sacral sensor in this run"
        )
        return Flag("pelvic_drop", "Pelvic drop (hip control)", "not assessed",
                    f"not measured: {reason or 'no sacral sensor'}", threshold,
                    BRAMAH + " " + NOEHREN, uncertainty, "Nothing to say for this run.")
    finding = (
        f"median {_f(s.median)} deg (left stance {_f(s.left)}, right stance {_f(s.right)}; first "
        f"10 % {_f(s.start)}, last 10 % {_f(s.end)})"
    )
    side_gap = abs(s.left - s.right) if math.isfinite(s.left - s.right) else float("nan")
    flagged = s.median > PELVIC_DROP_DEG or side_gap > ASYMMETRY_ANGLE_DEG
    meaning = (
        "The hip on the swing side drops more than the prompt. This is often linked to how the "
        "hip muscles (gluteus medius) control the pelvis in stance; a physiotherapist can check "
        "strength and control. It is not a diagnosis."
        if flagged
        else "Pelvic drop is within the prompt."
    )
    return Flag("pelvic_drop", "Pelvic drop (hip control)", "flag" if flagged else "ok",
                finding, threshold, BRAMAH + " " + NOEHREN, uncertainty, meaning)


ASYM_METRICS = (
    ("hip", "contact_time_s", "contact time", 1000.0, "ms"),
    ("hip", "step_time_s", "step time", 1000.0, "ms"),
    ("hip", "vgrf_peak_bw", "vGRF peak", 1.0, "BW"),
    ("hip", "impact_peak_g", "impact peak", 1.0, "g"),
    ("shoes", "contact_time_s", "shoe contact time", 1000.0, "ms"),
    ("shoes", "stride_length_m", "stride length", 1.0, "m"),
)  # shoe impact peaks are not compared: two separately mounted sensors differ by how tight
#    each one sits, which a left/right comparison would read as asymmetry


def asymmetry_flag(run: RunData) -> Flag:
    threshold = (
        f"left/right symmetry index above {ASYMMETRY_PCT:.0f} % (100 x (left - right) / mean). "
        "Our choice: a common rule of thumb, well above the side offsets of the measurement."
    )
    uncertainty = (
        "per-step contact-time error 14.5 ms RMSE, but medians over hundreds of steps per side "
        "are far steadier; systematic left/right offsets of about 3 ms in step time were seen "
        "in two of eight force-treadmill trials. Sides need a gyroscope (sacrum) or two shoes. "
        "Shoe impact peaks are not compared between feet (each shoe sensor sits differently)."
    )
    parts, flagged = [], False
    for group, name, label, scale, unit in ASYM_METRICS:
        s = _stats(run, group, name)
        if s is None or not math.isfinite(s.asymmetry_pct):
            continue
        parts.append(
            f"{label}: left {_f(s.left * scale, 2)} {unit}, right {_f(s.right * scale, 2)} "
            f"{unit} ({s.asymmetry_pct:+.1f} %)"
        )
        flagged |= abs(s.asymmetry_pct) > ASYMMETRY_PCT
    if not parts:
        return Flag("asymmetry", "Left/right asymmetry", "not assessed",
                    "sides unknown (needs a gyroscope on the sacrum, or both shoes)", threshold,
                    ZIFCHOCK, uncertainty, "Nothing to say for this run.")
    meaning = (
        "One side differs noticeably from the other. Asymmetry can follow an old injury, a "
        "strength difference or simply habit; if it is new or comes with pain, have it looked at."
        if flagged
        else "Left and right are similar within the threshold."
    )
    return Flag("asymmetry", "Left/right asymmetry", "flag" if flagged else "ok",
                "; ".join(parts), threshold, ZIFCHOCK, uncertainty, meaning)


def fatigue_flag(run: RunData) -> Flag:
    limits = ", ".join(
        f"{name.rsplit('_', 1)[0].replace('_', ' ')} {'+' if lim > 0 else ''}{lim:g} {unit}"
        for name, (lim, unit, _) in FATIGUE_LIMITS.items()
    )
    threshold = (
        f"change from the first to the last 10 % of the running time beyond: {limits}; runs "
        f"with less than {FATIGUE_MIN_RUN_S / 60:.0f} minutes of running are not assessed."
    )
    uncertainty = (
        "each window's median uses many steps, so random per-step errors mostly cancel; slow "
        "sensor shifts (a loosening strap) can look like form change, check the data quality."
    )
    if run.running_s < FATIGUE_MIN_RUN_S:
        return Flag("fatigue", "Form change with fatigue", "not assessed",
                    f"only {run.running_s / 60:.1f} minutes of running", threshold,
                    FATIGUE_EVIDENCE, uncertainty, "Nothing to say for this run.")
    parts, hits = [], []
    for name, (lim, unit, direction) in FATIGUE_LIMITS.items():
        for group in ("hip", "shoes"):
            s = _stats(run, group, name)
            if s is None:
                continue
            change = s.drift_pct if unit == "%" else s.drift
            label, dunit, scale, _ = METRICS[(group, name)]
            parts.append(
                f"{label} {s.start * scale:.3g} -> {s.end * scale:.3g} {dunit} "
                f"({change:+.1f} {unit})"
            )
            if (direction == "rise" and change > lim) or (direction == "fall" and change < lim):
                hits.append(label)
            break
    if not parts:
        return Flag("fatigue", "Form change with fatigue", "not assessed", "no metric to compare",
                    threshold, FATIGUE_EVIDENCE, uncertainty, "Nothing to say for this run.")
    meaning = (
        f"Your form changed towards the end ({', '.join(hits)}). This is common when tired; if "
        "it happens on most long runs, building distance more slowly or strength work may help."
        if hits
        else "Your form stayed steady from start to end."
    )
    return Flag("fatigue", "Form change with fatigue", "flag" if hits else "ok",
                "; ".join(parts), threshold, FATIGUE_EVIDENCE, uncertainty, meaning)


def hip_flags(run: RunData) -> list[Flag]:
    """All risk-factor flags for one run, in reading order."""
    return [
        cadence_flag(run),
        impact_flag(run),
        pelvic_drop_flag(run),
        asymmetry_flag(run),
        fatigue_flag(run),
    ]
