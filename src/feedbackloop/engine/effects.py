"""Adjusted template effects: a deal-level, L2-penalised logistic regression (the ``score``).

Raw win rates are confounded twice: templates are used more in some segments than others (segment mix),
and templates travel together in sequences, so a weak template sharing deals with a strong one looks good.
The model puts every deal once, with its outcome, an indicator per template it received and dummies of the
configured covariates (segment by default), and estimates all template effects jointly:

    logit P(won) = intercept + Σ_cov γ·covariates + Σ_t β_t·[deal received t]

``sequence_depth`` (a configured covariate by default) adds dummies of how far the deal got in its
sequence: a reply ends an enrolment and replies go with the prospect's interest, so late-step templates
are received mostly by cold deals; depth controls for that.

Every deal that reaches a step gets exactly one template of that step, so the template indicators of a
step sum to "reached the step": only contrasts between templates used at the same step (their *slot*,
the modal position) are identified. ``score`` is therefore β_t minus the mean β of its slot, with its
standard error from the joint covariance (log-odds, higher is better; "vs the average alternative at
this step"). ``coef``/``coef_se`` are the uncentred β_t. The ridge penalty λ/2·Σβ_t² (only template
terms; covariates get a token 1e-4 to survive separated segments, the intercept none) is a N(0, 1/λ)
prior: it keeps rare or separated templates finite and makes the collinear fit unique. Fitting is
Newton–Raphson (IRLS) on a sparse design with step halving; standard errors are the square roots of the
diagonal of the inverse penalised Hessian (the Laplace posterior; the ordinary MLE errors when λ → 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import norm

from feedbackloop.engine.distinct import per_distinct
from feedbackloop.engine.logit import LogitFit, fit_ridge_logit
from feedbackloop.engine.settings import EngineSettings

__all__ = [
    "EFFECT_COLUMNS",
    "Design",
    "LogitFit",
    "adjusted_effects",
    "deal_design",
    "fit_ridge_logit",
]

EFFECT_COLUMNS = ("deals", "score", "score_se", "z", "p_value", "slot", "coef", "coef_se", "data_status")
COVARIATE_PENALTY = 1e-4


@dataclass(frozen=True)
class Design:
    """A deal-level design: one row per closed deal that received at least one template."""

    matrix: sp.csr_matrix
    outcome: np.ndarray
    names: tuple[str, ...]
    penalty: np.ndarray
    templates: pd.Index
    template_deals: np.ndarray  # deals (exposures) per template, in column order
    template_start: int  # first template column; templates occupy len(templates) columns
    interaction_start: int | None  # first template × period column, when a period is given
    deal_ids: np.ndarray
    slots: np.ndarray  # per template: the sequence step it is used at (its modal position), or "any"

    def centring(self) -> np.ndarray:
        """C with C·β = each template's coefficient minus the mean of its slot's coefficients."""
        same = self.slots[:, None] == self.slots[None, :]
        return np.asarray(np.eye(len(self.slots)) - same / same.sum(axis=1, keepdims=True), dtype=float)


def template_slots(
    exposures: pd.DataFrame, templates: pd.Index, codes: np.ndarray | None = None
) -> np.ndarray:
    """The step each template is used at: its most frequent first position ("any" when unknown).

    Ties go to the earlier step (an unknown position counts as the last). ``codes``, when given, are the
    exposures' positions in ``templates`` (saves hashing the ids again).
    """
    if "first_position" not in exposures.columns or len(templates) == 0:
        return np.full(len(templates), "any", dtype=object)
    if codes is None:
        codes = templates.get_indexer(pd.Index(exposures["template_id"]))
    position = pd.to_numeric(exposures["first_position"], errors="coerce").to_numpy(dtype=float)
    steps, values = pd.factorize(position, sort=True, use_na_sentinel=False)  # NaN is the last value
    ok = codes >= 0
    counts = np.bincount(
        codes[ok].astype(np.int64) * len(values) + steps[ok], minlength=len(templates) * len(values)
    ).reshape(len(templates), len(values))
    modal = np.asarray(values, dtype=float)[counts.argmax(axis=1)]  # argmax: the first (earliest) of ties
    seen = counts.sum(axis=1) > 0
    return np.asarray(
        [f"step {int(v)}" if has and not np.isnan(v) else "any" for v, has in zip(modal, seen, strict=True)],
        dtype=object,
    )


def _depth_labels(depth: pd.Series) -> pd.Series:
    values = pd.to_numeric(depth, errors="coerce")
    return pd.Series(
        np.where(values.isna(), "unknown", values.clip(upper=10).fillna(0).astype(int).astype(str)),
        index=depth.index,
        dtype=object,
    )


def _covariate_blocks(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    values = frame[name]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        sd = np.nanstd(x)
        if not np.isfinite(sd) or sd == 0:
            return np.zeros((len(x), 0)), []
        return np.nan_to_num((x - np.nanmean(x)) / sd)[:, None], [name]
    # Levels are the values as text, missing ones "unknown", ordered as ``value_counts`` orders them
    # (by count, from counts listed in order of first appearance); each distinct value is handled once.
    codes, text = per_distinct(values, str, "unknown")
    label_of, labels = pd.factorize(text)  # values that print alike are one level
    row_label = label_of[codes]
    counts = np.bincount(row_label, minlength=len(labels))
    first = np.full(len(labels), len(row_label))
    np.minimum.at(first, row_label, np.arange(len(row_label)))
    seen = np.flatnonzero(counts > 0)
    seen = seen[np.argsort(first[seen], kind="stable")]
    ranked = seen[np.argsort(-counts[seen], kind="stable")]  # ties: first seen first
    levels = ranked[1:]  # drop the most frequent level: it is the reference
    return (row_label[:, None] == levels[None, :]).astype(float), [
        f"{name}={labels[level]}" for level in levels
    ]


def deal_design(
    exposures: pd.DataFrame,
    deals: pd.DataFrame | None,
    settings: EngineSettings,
    *,
    period: pd.Series | None = None,
) -> Design:
    """Build the sparse deal-level design from exposures (and covariates missing from them, from deals).

    With ``period`` (bool per exposure row, constant within a deal, True = recent) the design adds a
    ``recent`` column and one template × recent interaction per template, penalised like the templates.
    """
    deal_key = exposures["deal_index"] if "deal_index" in exposures.columns else exposures["deal_id"]
    deal_codes, _ = pd.factorize(deal_key, sort=False)
    tmpl_codes, templates = pd.factorize(exposures["template_id"], sort=True)
    n, k = int(deal_codes.max()) + 1 if len(deal_codes) else 0, len(templates)
    first_row = np.full(n, -1)
    first_row[deal_codes[::-1]] = np.arange(len(deal_codes))[::-1]
    per_deal = exposures.iloc[first_row].reset_index(drop=True)
    deal_ids = per_deal["deal_id"].to_numpy()
    y = per_deal["won"].to_numpy(dtype=float)
    blocks: list[sp.spmatrix] = [sp.csr_matrix(np.ones((n, 1)))]
    names, pens = ["intercept"], [0.0]
    for cov in settings.covariates:
        if cov == "sequence_depth" and "deal_depth" in per_deal.columns:
            per_deal[cov] = _depth_labels(per_deal["deal_depth"])
        if cov not in per_deal.columns and deals is not None and cov in deals.columns:
            lookup = deals.drop_duplicates("deal_id", keep="last").set_index("deal_id")[cov]
            per_deal[cov] = lookup.reindex(per_deal["deal_id"]).to_numpy()
        if cov in per_deal.columns:
            dense, cov_names = _covariate_blocks(per_deal, cov)
            blocks.append(sp.csr_matrix(dense))
            names += cov_names
            pens += [COVARIATE_PENALTY] * len(cov_names)
    recent = None
    if period is not None:
        recent = period.to_numpy(dtype=bool)[first_row].astype(float)
        blocks.append(sp.csr_matrix(recent[:, None]))
        names.append("recent")
        pens.append(COVARIATE_PENALTY)
    template_start = sum(b.shape[1] for b in blocks)
    ones = np.ones(len(deal_codes))
    indicators = sp.csr_matrix((ones, (deal_codes, tmpl_codes)), shape=(n, k))
    blocks.append(indicators)
    names += [f"template={t}" for t in templates]
    pens += [settings.l2_penalty] * k
    interaction_start = None
    if recent is not None:
        interaction_start = template_start + k
        blocks.append(sp.csr_matrix(indicators.multiply(recent[:, None])))
        names += [f"template={t}:recent" for t in templates]
        pens += [settings.l2_penalty] * k
    return Design(
        matrix=sp.hstack(blocks, format="csr"),
        outcome=y,
        names=tuple(names),
        penalty=np.asarray(pens),
        templates=pd.Index(templates, dtype=object, name="template_id"),
        template_deals=np.bincount(tmpl_codes, minlength=k),
        template_start=template_start,
        interaction_start=interaction_start,
        deal_ids=np.asarray(deal_ids, dtype=object),
        slots=template_slots(exposures, pd.Index(templates), tmpl_codes),
    )


def _empty_effects(templates: pd.Index, deals: np.ndarray, status: str) -> pd.DataFrame:
    nan = np.full(len(templates), np.nan)
    return pd.DataFrame(
        {
            "deals": deals,
            "score": nan,
            "score_se": nan,
            "z": nan,
            "p_value": nan,
            "slot": np.full(len(templates), "any", dtype=object),
            "coef": nan,
            "coef_se": nan,
            "data_status": np.full(len(templates), status, dtype=object),
        },
        index=pd.Index(templates, dtype=object, name="template_id"),
    )


def adjusted_effects(
    exposures: pd.DataFrame, deals: pd.DataFrame | None, settings: EngineSettings
) -> pd.DataFrame:
    """Adjusted effect of every template: score (log-odds), score_se, z, two-sided p_value, data_status.

    Indexed by template_id, with slot, coef and coef_se besides. ``attrs``: converged, n_iter, n_deals,
    loglik and score_covariance (template × template Laplace covariance of the centred scores, for
    contrasts; absent when the model was not fitted). A template alone in its slot has nothing to be
    compared with: NaN score and ``no_comparison``.
    Whole-model problems give every template the same status with NaN numbers:
    ``no_closed_deals`` (no exposures), ``insufficient_data`` (fewer than ``min_model_deals`` deals) and
    ``no_variation`` (all won or all lost). Otherwise a template with fewer than ``min_sample_size``
    deals is ``insufficient_data`` (its score is still estimated, heavily shrunk).
    """
    if len(exposures) == 0:
        return _empty_effects(pd.Index([], dtype=object), np.zeros(0, dtype=np.int64), "no_closed_deals")
    design = deal_design(exposures, deals, settings)
    y = design.outcome
    if len(y) < settings.min_model_deals:
        return _empty_effects(design.templates, design.template_deals, "insufficient_data")
    if y.min() == y.max():
        return _empty_effects(design.templates, design.template_deals, "no_variation")
    fit = fit_ridge_logit(design.matrix, y, design.penalty)
    cols = slice(design.template_start, design.template_start + len(design.templates))
    centring = design.centring()
    score = centring @ fit.coef[cols]
    cov = centring @ fit.covariance[cols, cols] @ centring.T
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    alone = pd.Series(design.slots).map(pd.Series(design.slots).value_counts()).to_numpy() == 1
    score[alone], se[alone] = np.nan, np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        z = score / se
    status = np.where(
        alone,
        "no_comparison",
        np.where(design.template_deals < settings.min_sample_size, "insufficient_data", "ok"),
    )
    out = pd.DataFrame(
        {
            "deals": design.template_deals,
            "score": score,
            "score_se": se,
            "z": z,
            "p_value": 2 * norm.sf(np.abs(z)),
            "slot": design.slots,
            "coef": fit.coef[cols],
            "coef_se": fit.se[cols],
            "data_status": status.astype(object),
        },
        index=design.templates,
    )
    ids = [str(t) for t in design.templates]
    out.attrs.update(
        converged=fit.converged,
        n_iter=fit.n_iter,
        n_deals=len(y),
        loglik=fit.loglik,
        score_covariance=pd.DataFrame(cov, index=ids, columns=ids),
    )
    return out
