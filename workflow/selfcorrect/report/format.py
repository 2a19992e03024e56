"""Percent formatting for the report: fractions in, one-decimal percent strings out.

Negative numbers use the typographic minus (U+2212), as the SCoRe paper's tables do, in every
cell; a missing or undefined value (None, NaN) prints as an en dash.
"""

from __future__ import annotations

import math

MINUS = "\u2212"
MISSING = "\u2013"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _fixed(value: float) -> str:
    text = f"{value:.1f}"
    if text in ("-0.0", "0.0"):  # a tiny negative rounds to zero: no sign on zero
        return "0.0"
    return text.replace("-", MINUS)


def pct(x: float | None) -> str:
    """0.526 -> "52.6"; -0.112 -> "−11.2"."""
    return MISSING if _missing(x) else _fixed(100 * x)


def signed_pct(x: float | None) -> str:
    """0.044 -> "+4.4"; -0.112 -> "−11.2"; 0 -> "0.0"."""
    if _missing(x):
        return MISSING
    text = _fixed(100 * x)
    return text if text.startswith(MINUS) or text == "0.0" else "+" + text


def pct_se(x: float | None, se: float | None) -> str:
    """Signed percent with its standard error: "−11.2 ± 2.2"; the "± SE" part only if known."""
    if _missing(x) or _missing(se):
        return signed_pct(x)
    return f"{signed_pct(x)} ± {_fixed(100 * se)}"
