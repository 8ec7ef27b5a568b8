"""Where the core writes its records (events and health-state segments), and the tables made from them.

The core appends to fixed buffers (:class:`Records`); a driver flushes them when they fill up, and
at the end the records become the ``patients``, ``events`` and ``states`` tables, decoded once
(light rows in the loop, one DataFrame at the end).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.inputs.capacity import SERVICES
from sim.model import events as E
from sim.model import layout as L
from sim.model.jit import records
from sim.model.truth import nonresponse_cause
from sim.inputs.therapies import ISN_CLASSES



class Records:
    """Event and segment buffers of one driver run, flushed into lists of arrays."""

    CAPACITY = 1 << 14           # rows of each buffer to start with

    def __init__(self, capacity: int | None = None):
        self.cap = capacity or self.CAPACITY
        self.ev = np.empty((self.cap, L.EVENT_WIDTH))
        self.sg = np.empty((self.cap, L.SEGMENT_WIDTH))
        self.cnt = np.zeros(3, dtype=np.int64)          # events, segments, sequence
        self.out = (self.ev, self.sg, self.cnt)
        self.work = records(np.zeros(1, dtype=L.WORK))   # where the core finds the arrays (sim.model.work)
        self._ev: list[np.ndarray] = []
        self._sg: list[np.ndarray] = []

    def room(self) -> None:
        """Make room for a few more records (the core itself answers RECORDS_FULL when it needs room)."""
        if self.cap - self.cnt[0] < L.RECORDS_MARGIN or self.cap - self.cnt[1] < L.RECORDS_MARGIN:
            self.flush()

    def grow(self) -> None:
        """Double the buffers, keeping what they hold (records of a block stay together)."""
        self.cap *= 2
        ev = np.empty((self.cap, L.EVENT_WIDTH))
        sg = np.empty((self.cap, L.SEGMENT_WIDTH))
        ev[:self.cnt[0]] = self.ev[:self.cnt[0]]
        sg[:self.cnt[1]] = self.sg[:self.cnt[1]]
        self.ev, self.sg = ev, sg
        self.out = (self.ev, self.sg, self.cnt)

    def clear(self) -> None:
        """Forget the records (the sequence number goes on: only the order within a patient matters)."""
        self.cnt[:2] = 0
        self._ev.clear()
        self._sg.clear()

    def flush(self) -> None:
        ne, ns = int(self.cnt[0]), int(self.cnt[1])
        if ne:
            self._ev.append(self.ev[:ne].copy())
        if ns:
            self._sg.append(self.sg[:ns].copy())
        self.cnt[:2] = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        self.flush()
        ev = np.concatenate(self._ev) if self._ev else np.empty((0, L.EVENT_WIDTH))
        sg = np.concatenate(self._sg) if self._sg else np.empty((0, L.SEGMENT_WIDTH))
        return ev, sg


PATIENT_COLUMNS = [
    "patient", "isn_class", "ancestry", "age", "sex", "weight_kg", "height_cm", "bsa_m2",
    "proteinuria_g_day", "egfr_ml_min", "nonadherent", "chronicity", "lookalike", "induction", "refractory",
    "refractory_ever", "failed_induction", "workup_finding", "nonresponse_cause", "courses_stopped_by_adverse_event",
    "highest_step", "n_renal_flares", "cr_time_years", "response_time_years", "esrd_time_years",
    "death_time_years", "transplant_time_years", "followup_years", "end_state",
]


def _labels(codes: np.ndarray, names) -> np.ndarray:
    return np.asarray(names, dtype=object)[codes]


def patients_frame(cm, k: int, P: np.ndarray, cohort) -> pd.DataFrame:
    """The patients table of one block under strategy ``k`` (columns :data:`PATIENT_COLUMNS`;
    ``cohort``: the block's rows of the draw's cohort)."""
    P = np.asarray(P)
    c = cohort
    therapies = np.asarray(cm.therapies, dtype=object)
    ladder = [cm.therapies[t] for t in cm.records[k]["ladder"][:cm.records[k]["n_ladder"]]]
    look = _labels(P["lookalike"], LOOKALIKES)
    chron = _labels(P["chronicity"], CHRONICITY)
    nonadh = P["nonadherent"].astype(bool)
    failed = P["failed_induction"].astype(bool)
    finding = P["workup_finding"]
    cause = np.array([nonresponse_cause(a, b, bool(x)) if f else "" for a, b, x, f in zip(look, chron, nonadh, failed)],
                     dtype=object)
    high = np.array([ladder[h] if h >= 0 else "induction" for h in P["highest_step"].tolist()], dtype=object)
    df = pd.DataFrame({
        "patient": P["pid"],
        "isn_class": _labels(P["isn_class"], ISN_CLASSES),
        "ancestry": _labels(P["ancestry"], ANCESTRIES),
        "age": np.asarray(c.age, dtype=np.float64),
        "sex": np.where(c.female, "female", "male").astype(object),
        "weight_kg": np.asarray(c.weight_kg, dtype=np.float64),
        "height_cm": np.asarray(c.height_cm, dtype=np.float64),
        "bsa_m2": np.asarray(c.bsa_m2, dtype=np.float64),
        "proteinuria_g_day": np.asarray(c.proteinuria_g_day, dtype=np.float64),
        "egfr_ml_min": np.asarray(c.egfr_ml_min, dtype=np.float64),
        "nonadherent": nonadh,
        "chronicity": chron,
        "lookalike": look,
        "induction": therapies[P["first_agent"]],
        "refractory": P["refractory_initial"].astype(bool),
        "refractory_ever": P["refractory"].astype(bool),
        "failed_induction": failed,
        "workup_finding": np.array(["" if f < 0 else L.FINDINGS[f] for f in finding.tolist()], dtype=object),
        "nonresponse_cause": cause,
        "courses_stopped_by_adverse_event": P["n_stopped"].astype(np.int64),
        "highest_step": high,
        "n_renal_flares": P["n_flares"].astype(np.int64),
        "cr_time_years": P["cr_time"], "response_time_years": P["response_time"],
        "esrd_time_years": P["esrd_time"], "death_time_years": P["death_time"],
        "transplant_time_years": P["tx_time"], "followup_years": P["end_time"],
        "end_state": np.where(np.isnan(P["death_time"]), "alive", "death").astype(object),
    })
    return df


def events_frame(cm, ev: np.ndarray) -> pd.DataFrame:
    """The events table of one strategy, in patient order (record order within a patient)."""
    ev = ev[ev[:, L.EV_CODE] != E.THERAPY_CHANGE]
    ev = ev[np.argsort(ev[:, 0], kind="stable")]
    codes = ev[:, :5].astype(np.int64)
    names, details = E.decode_events(codes, cm.therapies, cm.kinds, list(SERVICES))
    return pd.DataFrame({"patient": codes[:, 0], "time_years": ev[:, 5], "event": names, "detail": details})


def states_frame(cm, sg: np.ndarray) -> pd.DataFrame:
    """The states table of one strategy, in patient order, then by start."""
    sg = sg[np.lexsort((sg[:, 3], sg[:, 0]))]
    codes = sg[:, :3].astype(np.int64)
    uniq, inverse = np.unique(codes[:, 2], return_inverse=True)
    labels = np.array([E.therapy_label(t, cm.therapies) for t in uniq.tolist()], dtype=object)
    return pd.DataFrame({"patient": codes[:, 0], "state": _labels(codes[:, 1], L.STATE_NAMES),
                         "therapy": labels[inverse.reshape(-1)], "start": sg[:, 3], "stop": sg[:, 4]})
