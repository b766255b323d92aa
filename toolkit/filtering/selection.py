"""Keep the best candidates, batch by batch: no copies, no leakage, top share by reward.

Every candidate ends in exactly one of the two outputs: kept (with its scores and the ensemble's label) or
rejected (with the first reason that applied). Similarity is the cosine of character 3-5-gram TF-IDF vectors,
which catches a copied case whose amount or wording was nudged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from toolkit.config import SelectionSpec

Scorer = Callable[[pd.DataFrame], pd.DataFrame]  # candidates -> columns reward, confidence, label, ...


def normalise(text: str) -> str:
    return " ".join(str(text).lower().split())


class SimilarityIndex:
    """Nearest-neighbour cosine between texts, on one character n-gram vocabulary fitted over everything seen."""

    def __init__(self, corpus: Sequence[str]):
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1)
        # the corpus's own vectors, row for row: analysing 20,000 texts a second time cost seconds
        self.corpus = self.vectorizer.fit_transform([normalise(t) for t in corpus])

    def vectors(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if not len(texts):
            return sparse.csr_matrix((0, len(self.vectorizer.vocabulary_)))
        return self.vectorizer.transform([normalise(t) for t in texts])

    @staticmethod
    def nearest(queries: sparse.csr_matrix, against: sparse.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest row of `against`, its cosine) per query row; -1 / 0 when `against` is empty."""
        n = queries.shape[0]
        if against is None or against.shape[0] == 0 or n == 0:
            return np.full(n, -1), np.zeros(n)
        best, score = np.full(n, -1), np.zeros(n)
        for start in range(0, against.shape[0], 4096):  # bounded memory on large reference sets
            sims = (queries @ against[start : start + 4096].T).toarray()
            idx = sims.argmax(axis=1)
            top = sims[np.arange(n), idx]
            better = top > score
            best[better], score[better] = idx[better] + start, top[better]
        return best, score


@dataclass
class Reference:
    """Texts a candidate must not copy: the training split (no information added) and the evaluation splits
    (a copy there would leak into the metrics)."""

    train: list[str]
    held_out: list[str]  # validation + test


def select(
    candidates: pd.DataFrame,
    score: Scorer,
    reference: Reference,
    spec: SelectionSpec,
    cap: int,
    on_batch: Callable[[int, int, int], None] = lambda batch, kept, rejected: None,
    reward_floor: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejected) frames from `candidates` (columns `candidate_id`, `source`, `input`, `label_hint`).
    `reward_floor`: a candidate whose `reward_model` score is below it goes, whatever its batch (the top share of
    a batch of poor texts is still poor)."""
    index = SimilarityIndex([*reference.train, *reference.held_out, *candidates["input"].tolist()])
    train_end, held_end = len(reference.train), len(reference.train) + len(reference.held_out)
    train_vectors, held_vectors = index.corpus[:train_end], index.corpus[train_end:held_end]
    candidate_vectors = index.corpus[held_end:]
    exact_train = {normalise(t) for t in reference.train}
    exact_held = {normalise(t) for t in reference.held_out}
    seen_exact: dict[str, str] = {}
    seen_vectors: list[sparse.csr_matrix] = []
    seen_ids: list[str] = []
    kept_parts, rejected_parts = [], []
    kept_total = 0
    for number, start in enumerate(range(0, len(candidates), spec.batch_size), start=1):
        batch = candidates.iloc[start : start + spec.batch_size].reset_index(drop=True)
        vectors = candidate_vectors[start : start + spec.batch_size]
        reasons = _copy_reasons(batch, vectors, train_vectors, held_vectors, exact_train, exact_held, spec)
        # within the batch and against earlier batches: the first of two near-identical candidates survives
        earlier_idx, earlier_cos = SimilarityIndex.nearest(
            vectors, sparse.vstack(seen_vectors) if seen_vectors else None
        )
        within = (vectors @ vectors.T).toarray()
        survivors: list[int] = []
        for i in range(len(batch)):
            if reasons[i]:
                continue
            key = normalise(batch.at[i, "input"])
            closest = survivors[int(within[i, survivors].argmax())] if survivors else None
            if key in seen_exact:
                reasons[i] = f"exact duplicate of candidate {seen_exact[key]}"
            elif earlier_cos[i] >= spec.near_duplicate:
                reasons[i] = f"near duplicate of candidate {seen_ids[earlier_idx[i]]} (cosine {earlier_cos[i]:.3f})"
            elif closest is not None and within[i, closest] >= spec.near_duplicate:
                reasons[i] = (
                    f"near duplicate of candidate {batch.at[closest, 'candidate_id']} (cosine {within[i, closest]:.3f})"
                )
            else:
                survivors.append(i)
                seen_exact[key] = batch.at[i, "candidate_id"]
        if survivors:
            seen_vectors.append(vectors[survivors])
            seen_ids.extend(batch.loc[survivors, "candidate_id"].tolist())
        alive = [i for i in range(len(batch)) if not reasons[i]]
        scored = batch.copy()
        if alive:
            scores = score(batch.iloc[alive]).reset_index(drop=True)
            for column in scores.columns:
                scored.loc[alive, column] = scores[column].to_numpy()
            confident = [i for i in alive if scored.at[i, "confidence"] >= spec.min_confidence]
            for i in set(alive) - set(confident):
                reasons[i] = f"teachers unsure: confidence {scored.at[i, 'confidence']:.3f} < {spec.min_confidence}"
            if reward_floor is not None:
                low = [i for i in confident if scored.at[i, "reward_model"] < reward_floor]
                for i in low:
                    reasons[i] = (
                        f"below the reward floor: reward model {scored.at[i, 'reward_model']:.3f} < {reward_floor:.3f} "
                        "(real training texts)"
                    )
                confident = [i for i in confident if i not in set(low)]
            ranked = sorted(confident, key=lambda i: -scored.at[i, "reward"])
            n_keep = int(np.ceil(len(ranked) * spec.keep_share)) if ranked else 0
            cutoff = scored.at[ranked[n_keep - 1], "reward"] if n_keep else np.nan
            for position, i in enumerate(ranked):
                if position >= n_keep:
                    reasons[i] = f"below this batch's cut: reward {scored.at[i, 'reward']:.3f} < {cutoff:.3f}"
                elif kept_total >= cap:
                    reasons[i] = f"over the cap of {cap} added samples"
                else:
                    kept_total += 1
        scored["batch"] = number
        scored["reason"] = reasons
        kept_parts.append(scored[scored["reason"] == ""].drop(columns="reason"))
        rejected_parts.append(scored[scored["reason"] != ""])
        on_batch(number, len(kept_parts[-1]), len(rejected_parts[-1]))
    kept = pd.concat(kept_parts, ignore_index=True) if kept_parts else candidates.iloc[:0]
    rejected = pd.concat(rejected_parts, ignore_index=True) if rejected_parts else candidates.iloc[:0]
    return kept, rejected


def _copy_reasons(
    batch: pd.DataFrame,
    vectors: sparse.csr_matrix,
    train_vectors: sparse.csr_matrix,
    held_vectors: sparse.csr_matrix,
    exact_train: set[str],
    exact_held: set[str],
    spec: SelectionSpec,
) -> list[str]:
    """Why each candidate must go before it is scored: empty, or a copy of a split's text ("" = no reason)."""
    held_idx, held_cos = SimilarityIndex.nearest(vectors, held_vectors)
    train_idx, train_cos = SimilarityIndex.nearest(vectors, train_vectors)
    reasons = []
    for i, text in enumerate(batch["input"].tolist()):
        key = normalise(text)
        if not key:
            reasons.append("empty text")
        elif key in exact_held or held_cos[i] >= spec.near_duplicate:
            reasons.append(f"too close to a validation / test text (cosine {held_cos[i]:.3f}): would leak")
        elif key in exact_train or train_cos[i] >= spec.near_duplicate:
            reasons.append(f"copy of a training text (cosine {train_cos[i]:.3f})")
        else:
            reasons.append("")
    return reasons
