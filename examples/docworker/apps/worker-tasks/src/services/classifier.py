"""Template matching: which credential a document's text is, before (and instead of) asking a model.

Each template lists the phrases its documents always print, with weights for how telling each phrase is. A
document's score for a template is the weight of the phrases it contains over the template's total weight, so a
confidence of 0.95 means "almost every phrase this kind of document prints is here". Single words that show up on
unrelated paperwork ("certificate", "license", "registration") are deliberately not phrases on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNKNOWN = "unknown"
# Below this score the best template is a guess; the document is stored as unknown for a human to type.
MIN_TEMPLATE_SCORE = 0.5


@dataclass(frozen=True)
class Phrase:
    pattern: re.Pattern[str]
    weight: float


@dataclass(frozen=True)
class Template:
    document_type: str
    phrases: tuple[Phrase, ...]

    def score(self, text: str) -> float:
        total = sum(phrase.weight for phrase in self.phrases)
        matched = sum(phrase.weight for phrase in self.phrases if phrase.pattern.search(text))
        return matched / total


@dataclass(frozen=True)
class Classification:
    document_type: str
    confidence: float


def _phrase(pattern: str, weight: float) -> Phrase:
    return Phrase(re.compile(pattern, re.IGNORECASE), weight)


TEMPLATES: tuple[Template, ...] = (
    Template(
        "cme_certificate",
        (
            _phrase(r"continuing medical education", 3),
            _phrase(r"AMA PRA Category [12] Credits?", 3),
            _phrase(r"certificate of (?:completion|attendance|participation)", 2),
            _phrase(r"(?:has|have) (?:participated in|completed|attended)", 1),
            _phrase(r"\bACCME\b|accreditation council for continuing medical education", 1),
            _phrase(r"credits? awarded|is awarded|credit hours?", 1),
        ),
    ),
    Template(
        "medical_license",
        (
            _phrase(r"medical board|board of medicine|board of medical examiners|medical examiners", 3),
            _phrase(r"licen[sc]e to practi[cs]e medicine", 3),
            _phrase(r"physician and surgeon|doctor of (?:medicine|osteopathy)", 1),
            _phrase(r"licen[sc]e (?:number|no\.?)", 2),
            _phrase(r"expiration date|expires", 1),
            _phrase(r"duly licensed|is hereby licensed|has been licensed", 1),
        ),
    ),
    Template(
        "dea_registration",
        (
            _phrase(r"drug enforcement administration", 3),
            _phrase(r"controlled substance registration certificate", 3),
            _phrase(r"DEA registration (?:number|no\.?)", 2),
            _phrase(r"schedules?\b", 1),
            _phrase(r"business activity", 1),
            _phrase(r"department of justice", 1),
        ),
    ),
)


def _normalise(text: str) -> str:
    # PDF text breaks lines wherever the layout did; phrases must match across those breaks.
    return re.sub(r"\s+", " ", text)


def classify(text: str) -> Classification:
    """The best-scoring template, or `unknown` with the confidence that the document is none of them."""
    normalised = _normalise(text)
    scores = sorted(((template.score(normalised), template.document_type) for template in TEMPLATES), reverse=True)
    best_score, best_type = scores[0]
    if best_score < MIN_TEMPLATE_SCORE:
        return Classification(UNKNOWN, round(1.0 - best_score, 2))
    return Classification(best_type, round(best_score, 2))
