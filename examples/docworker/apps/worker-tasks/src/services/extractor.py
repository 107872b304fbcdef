"""Text out of a PDF (PyMuPDF), and the fields each kind of credential prints.

Field values are what the document says, normalised only where the database needs one form: dates become ISO
8601, states become postal codes, credit hours become numbers. A field the document does not show is None, so
every document of a type has the same keys and a reviewer sees what is missing.
"""

# PyMuPDF ships py.typed but leaves many functions unannotated; calling them is not an error here.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pymupdf

from services.us_states import state_code

FieldValue = str | float | None
Fields = dict[str, FieldValue]

# Credentials are one to three pages; anything far longer is a wrong upload, and reading it only burns the timeout.
MAX_PAGES = 20
# The PDF header may legally sit anywhere in the first kilobyte.
PDF_HEADER_WINDOW = 1024

_DATE_VALUE = r"[A-Z][a-z]+\.? \d{1,2}, \d{4}|\d{1,2}[/-]\d{1,2}[/-]\d{4}|\d{4}-\d{2}-\d{2}"
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%m/%d/%Y", "%m-%d-%Y", "%Y-%m-%d")


class UnreadableDocumentError(ValueError):
    """The upload is not a PDF the worker can read text from; retrying will not help."""


@dataclass(frozen=True)
class ExtractedText:
    text: str
    page_count: int


def extract_text(content: bytes) -> ExtractedText:
    if b"%PDF-" not in content[:PDF_HEADER_WINDOW]:
        raise UnreadableDocumentError("not a PDF: no %PDF- header")
    try:
        document = pymupdf.open(stream=content, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise UnreadableDocumentError(f"PDF cannot be opened: {exc}") from exc
    with document:
        if document.needs_pass:
            raise UnreadableDocumentError("PDF is password-protected")
        page_count = document.page_count
        pages = [document[number].get_text("text") for number in range(min(page_count, MAX_PAGES))]
    text = "\n".join(pages)
    if not text.strip():
        raise UnreadableDocumentError("PDF has no text layer (a scan needs OCR, which this worker does not do)")
    return ExtractedText(text=text, page_count=page_count)


def parse_date(raw: str) -> str | None:
    cleaned = " ".join(raw.split())
    for date_format in _DATE_FORMATS:
        try:
            parsed: date = datetime.strptime(cleaned, date_format).date()
        except ValueError:
            continue
        return parsed.isoformat()
    return None


def is_valid_dea_number(number: str) -> bool:
    """DEA numbers carry a check digit: (d1 + d3 + d5) + 2 * (d2 + d4 + d6) ends in d7."""
    if not re.fullmatch(r"[A-Z][A-Z9]\d{7}", number):
        return False
    digits = [int(character) for character in number[2:]]
    checksum = digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])
    return checksum % 10 == digits[6]


def _value_after(text: str, label: str, value: str) -> str | None:
    """The first `value` printed after `label` (on the same line or the next), labels matched case-insensitively."""
    match = re.search(rf"(?i:{label})\s*:?\s*({value})", text)
    return match.group(1).strip() if match else None


def _line_after(text: str, label: str) -> str | None:
    """The line following a line that ends with `label`: how certificates print a name under 'certify that'."""
    match = re.search(rf"(?im:{label})\s*:?[ \t]*\n\s*([^\n]+)", text)
    return match.group(1).strip() if match else None


def _date_after(text: str, label: str) -> str | None:
    raw = _value_after(text, label, _DATE_VALUE)
    return parse_date(raw) if raw else None


def _state_after(text: str, label: str) -> str | None:
    # "State of New York as a" must yield NY and "STATE OF TEXAS" TX: try the longest run of words first.
    for match in re.finditer(rf"(?i:{label})[ \t]+([A-Za-z]+(?:[ \t]+[A-Za-z]+){{0,2}})", text):
        words = match.group(1).split()
        for length in range(len(words), 0, -1):
            code = state_code(" ".join(words[:length]))
            if code:
                return code
    return None


def _cme_certificate_fields(text: str) -> Fields:
    credits = re.search(r"(\d+(?:\.\d+)?)\s+(AMA PRA Category [12]) Credits?", text)
    credit_hours = credits.group(1) if credits else _value_after(text, r"credit hours?", r"\d+(?:\.\d+)?")
    return {
        "name": _line_after(text, r"certify that"),
        "activity_title": _line_after(text, r"activity titled"),
        "credit_hours": float(credit_hours) if credit_hours else None,
        "credit_type": credits.group(2) if credits else None,
        "provider": _value_after(text, r"accredited provider|provider", r"[^\n]+"),
        "issue_date": _date_after(text, r"date of completion|completion date|date issued|issue date"),
    }


_LICENSE_TYPES = (
    "Physician and Surgeon",
    "Doctor of Osteopathic Medicine",
    "Doctor of Medicine",
    "Physician Assistant",
)


def _medical_license_fields(text: str) -> Fields:
    license_type = re.search("|".join(_LICENSE_TYPES), text, re.IGNORECASE)
    return {
        "name": _line_after(text, r"certify that|certifies that"),
        "license_number": _value_after(text, r"licen[sc]e (?:number|no\.?)", r"[A-Z]{0,3}-?\d{3,8}"),
        "license_type": license_type.group(0) if license_type else None,
        "state": _state_after(text, r"state of"),
        "issue_date": _date_after(text, r"issue date|date issued|issued"),
        "expiration_date": _date_after(text, r"expiration date|expires"),
    }


def _dea_registration_fields(text: str) -> Fields:
    number = _value_after(text, r"DEA registration (?:number|no\.?)", r"[A-Z][A-Z9]\d{7}")
    schedules = _value_after(text, r"schedules", r"[1-5]N?(?:\s*,\s*[1-5]N?)*")
    address_state = re.search(r",\s*([A-Z]{2})\s+\d{5}(?:-\d{4})?\b", text)
    return {
        "name": _line_after(text, r"registrant"),
        # A number whose check digit fails was misread or made up; leave it for a human instead of storing it.
        "dea_number": number if number and is_valid_dea_number(number) else None,
        "schedules": re.sub(r"\s+", "", schedules) if schedules else None,
        "business_activity": _value_after(text, r"business activity", r"[A-Z][A-Z -]*[A-Z]"),
        "state": state_code(address_state.group(1)) if address_state else None,
        "issue_date": _date_after(text, r"issue date"),
        "expiration_date": _date_after(text, r"registration expires|expiration date|expires"),
    }


FIELD_EXTRACTORS: dict[str, Callable[[str], Fields]] = {
    "cme_certificate": _cme_certificate_fields,
    "medical_license": _medical_license_fields,
    "dea_registration": _dea_registration_fields,
}


def extract_fields(document_type: str, text: str) -> Fields:
    """The fields for this type of document; an unknown document has none."""
    extractor = FIELD_EXTRACTORS.get(document_type)
    return extractor(text) if extractor else {}
