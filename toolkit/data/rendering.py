"""Render a row (free text + structured fields) into the model's input text, and a label into the prompt that
conditions the reward model and the generator on it.

Fields are rendered compactly and with meaning, e.g. `SpO2 88% (low)` rather than a column dump, so that a
text model sees what a clinician or analyst would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from toolkit.config import FieldSpec, PackConfig, RenderSpec

DEFAULT_RENDER = RenderSpec()


def _format_number(value: float, field: FieldSpec) -> str:
    if field.type == "int" or float(value).is_integer():
        return f"{int(round(value)):,}" if abs(value) >= 10000 else f"{int(round(value))}"
    return f"{value:.1f}"


def band_tag(value: float, field: FieldSpec) -> str | None:
    """The first band a numeric value falls into, if any."""
    for band in field.bands:
        if band.below is not None and value < band.below:
            return band.tag
        if band.above is not None and value > band.above:
            return band.tag
    return None


def render_field(value: object, field: FieldSpec) -> str | None:
    """`label value unit (tag)` for one field, or None when the value is missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    name = field.label or field.name.replace("_", " ")
    if field.type == "category":
        return f"{name} {value}"
    number = float(value)
    tag = band_tag(number, field)
    rendered = f"{name} {_format_number(number, field)}{field.unit}"
    return f"{rendered} ({tag})" if tag else rendered


def render_row(
    text: str, values: dict[str, object], fields: Sequence[FieldSpec], spec: RenderSpec = DEFAULT_RENDER
) -> str:
    """The input text for one row, following the pack's `render.template`.

    >>> from toolkit.config import FieldSpec, Band
    >>> spo2 = FieldSpec(name="spo2", type="int", label="SpO2", unit="%", bands=[Band(tag="low", below=92)])
    >>> render_row("short of breath", {"spo2": 88}, [spo2])
    'short of breath | SpO2 88% (low)'
    >>> render_row("x " * 200, {"spo2": 88}, [spo2])[:20]  # a long text goes after the fields
    'SpO2 88% (low) | x x'
    """
    rendered = {f.name: render_field(values.get(f.name), f) or "" for f in fields}
    joined = spec.field_separator.join(r for r in rendered.values() if r)
    text = "" if text is None or (not isinstance(text, str) and pd.isna(text)) else str(text).strip()
    template = spec.template
    if spec.fields_first_above and len(text) > spec.fields_first_above and joined:
        template = template.replace("{text}", "\0").replace("{fields}", "{text}").replace("\0", "{fields}")
    out = template.format(text=text, fields=joined, **rendered)
    # A missing text or missing fields must not leave dangling separators behind.
    return out.strip().strip(spec.field_separator.strip() or " ").strip()


def render_frame(frame: pd.DataFrame, fields: Sequence[FieldSpec], spec: RenderSpec = DEFAULT_RENDER) -> list[str]:
    """Render every row of a canonical frame (columns `text` + field names)."""
    names = [f.name for f in fields]
    return [render_row(row["text"], {n: row[n] for n in names}, fields, spec) for _, row in frame.iterrows()]


def parse_fields(text: str, fields: Sequence[FieldSpec]) -> dict[str, object]:
    """Read structured values back out of a rendered text (the inverse of `render_field`, case-insensitive), for
    texts that exist only rendered, e.g. generated samples. Fields not found are None.

    >>> from toolkit.config import FieldSpec
    >>> parse_fields("chest pain | spo2 88% (low) | arrival ambulance",
    ...              [FieldSpec(name="spo2", type="int", label="SpO2", unit="%"),
    ...               FieldSpec(name="arrival", type="category", allowed=["walk_in", "ambulance"])])
    {'spo2': 88.0, 'arrival': 'ambulance'}
    """
    lowered = text.lower()
    values: dict[str, object] = {}
    for field in fields:
        name = re.escape((field.label or field.name.replace("_", " ")).lower())
        if field.type == "category":
            match = re.search(rf"\b{name} ([\w-]+)", lowered)
            allowed = {str(a).lower(): a for a in field.allowed} if field.allowed else None
            found = match.group(1) if match else None
            values[field.name] = (allowed.get(found) if allowed is not None else found) if found else None
        else:
            match = re.search(rf"\b{name} (-?[\d,]*\d(?:\.\d+)?)", lowered)
            values[field.name] = float(match.group(1).replace(",", "")) if match else None
    return values


def label_prompt(config: PackConfig, label: str) -> str:
    """The text that conditions the reward model and the generator on a label (the template's `prompt`)."""
    description = next(spec.description for spec in config.labels if spec.name == label)
    return f"A case labeled {label}: {description}"
