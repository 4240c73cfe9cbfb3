"""Shipped event data for the study demo, generated deterministically (a few MB; nothing is downloaded).

A subscription app offers a loyalty discount to some users, targeted at those with many sessions in the 28 days
before the offer (so the naive treated-minus-control difference is confounded by activity), and it raises each
treated user's purchase rate by ``lift`` from the moment it is offered. Tables:

- ``users``: ``user_id, region, signup`` (the population);
- ``offers``: ``user_id, offered_at`` (the treatment table: one exposure time per treated user);
- ``events``: ``user_id, ts, event_type ('session' | 'purchase' | 'ticket'), amount`` (purchases carry an amount).

The true average effect on the treated of the offer on 28-day revenue is known: ``28 days x purchase rate x
lift x mean amount``, averaged over the treated (``EventStudyData.true_att``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")
END = pd.Timestamp("2024-06-30")
OFFER_START = pd.Timestamp("2024-03-01")
OFFER_END = pd.Timestamp("2024-05-01")
MEAN_AMOUNT = 20.0


@dataclass(frozen=True)
class EventStudyData:
    users: pd.DataFrame
    offers: pd.DataFrame
    events: pd.DataFrame
    true_att: float
    lift: float


def simulate_study_events(n_users: int = 1500, lift: float = 0.5, seed: int = 8) -> EventStudyData:
    """Users, offers and events with a known effect of the offer on revenue (see the module docstring)."""
    rng = np.random.default_rng(seed)
    user_id = np.arange(1, n_users + 1, dtype=np.int64)
    region = rng.choice(np.array(["north", "south", "east", "west"]), n_users)
    activity = rng.gamma(2.0, 0.5, n_users)  # latent activity, confounds the offer
    session_rate = 0.25 * activity  # per day
    purchase_rate = 0.02 * activity
    ticket_rate = 0.01 + 0.005 * rng.random(n_users)
    signup = START - pd.to_timedelta(rng.integers(30, 700, n_users), unit="D")
    span = (OFFER_END - OFFER_START).total_seconds()
    offered_at = OFFER_START + pd.to_timedelta(np.floor(rng.random(n_users) * span), unit="s")

    days = (END - START).total_seconds() / 86400.0
    rows = []

    def draw(kind: str, rate: np.ndarray, t0: np.ndarray, t1: np.ndarray):
        n = rng.poisson(rate * np.maximum(t1 - t0, 0.0))
        who = np.repeat(np.arange(n_users), n)
        t = t0[who] + rng.random(who.size) * (t1 - t0)[who]
        rows.append((who, t, kind))
        return who, t

    zero, full = np.zeros(n_users), np.full(n_users, days)
    s_who, s_t = draw("session", session_rate, zero, full)
    draw("purchase", purchase_rate, zero, full)
    draw("ticket", ticket_rate, zero, full)
    # the offer targets users by their sessions in the 28 days before the offer would be made (the confounder the
    # study adjusts for: sessions_28d); activity also drives purchases, so the naive comparison is biased upward
    expo_day = (offered_at - START).total_seconds().to_numpy() / 86400.0
    in_window = (s_t >= expo_day[s_who] - 28.0) & (s_t < expo_day[s_who])
    pre_sessions = np.bincount(s_who[in_window], minlength=n_users)
    p_offer = 1.0 / (1.0 + np.exp(-(-1.5 + 0.15 * (pre_sessions - 7.0))))
    treated = rng.random(n_users) < p_offer
    extra = np.where(treated, purchase_rate * lift, 0.0)
    draw("purchase", extra, np.where(treated, expo_day, days), full)

    who = np.concatenate([r[0] for r in rows])
    t = np.concatenate([r[1] for r in rows])
    kind = np.concatenate([np.full(r[0].size, r[2], dtype=object) for r in rows])
    amount = np.where(kind == "purchase", np.round(rng.gamma(4.0, MEAN_AMOUNT / 4.0, who.size), 2), np.nan)
    ts = (START + pd.to_timedelta(np.round(t * 86400.0), unit="s")).astype("datetime64[us]")
    events = pd.DataFrame({"user_id": user_id[who], "ts": ts, "event_type": kind.astype(str), "amount": amount})
    events = events.sort_values(["ts", "user_id"], kind="stable").reset_index(drop=True)
    users = pd.DataFrame({"user_id": user_id, "region": region, "signup": signup.astype("datetime64[us]")})
    offers = pd.DataFrame({"user_id": user_id[treated],
                           "offered_at": offered_at[treated].astype("datetime64[us]")})
    true_att = float(np.mean(28.0 * purchase_rate[treated] * lift * MEAN_AMOUNT))
    return EventStudyData(users, offers, events, true_att, lift)


def write_study_demo(folder, n_users: int = 1500, seed: int = 8) -> Path:
    """Write the demo study into ``folder``: ``users.csv``, ``offers.csv``, ``events.csv`` and the shipped
    ``study.yaml`` and ``features.yaml`` beside them; returns the path of ``study.yaml``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = simulate_study_events(n_users=n_users, seed=seed)
    data.users.to_csv(folder / "users.csv", index=False)
    data.offers.to_csv(folder / "offers.csv", index=False)
    data.events.to_csv(folder / "events.csv", index=False)
    for name in ("study.yaml", "features.yaml"):
        with resources.files(__package__).joinpath(f"data/study/{name}").open("rb") as src, \
                open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    (folder / "TRUTH.txt").write_text(f"true average effect on the treated on revenue_28d: {data.true_att:.4f}\n")
    return folder / "study.yaml"
