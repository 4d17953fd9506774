"""JSON text exactly as JavaScript's ``JSON.stringify`` writes it, so webhook bodies survive a parse/re-serialise.

A receiver in Node verifies ``JSON.stringify(JSON.parse(body))``; for that to give back our bytes we must write
what JavaScript would: no spaces, non-ASCII as is, lone surrogates escaped, numbers in ECMAScript's
Number::toString form (``1e21``, ``0.000001``, ``1e-7``, integers above 2**53 rounded to a double), and an
object's array-index keys ("0", "1", …) first in ascending order, as JavaScript objects keep them.
"""

import json
import math
import re
from typing import Any

import orjson

_SURROGATE = re.compile("[\ud800-\udfff]")
_SCALARS = frozenset({str, int, bool, type(None)})
_MAX_SAFE = 2**53
_MAX_INDEX = 2**32 - 2
_encode_string = json.encoder.encode_basestring


def stringify(value: Any) -> str:
    """``value`` (JSON-shaped: dict, list, tuple, str, int, float, bool, None) as JSON.stringify would write it.

    orjson writes exactly that for a container holding only strings, safe integers, booleans and nulls, with no
    array-index key; the rest goes to ``reference``, as does a string with a lone surrogate, which orjson refuses.
    For a webhook body that is about a third of the reference's time, the walk included."""
    if _plain(value):
        try:  # refused: an integer of 2**53 or more either way (JavaScript may round it), a lone surrogate
            text = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
        except orjson.JSONEncodeError:
            pass
        else:
            return text.decode()
    return reference(value)


def reference(value: Any) -> str:
    """``stringify``, written out: what it must give for any value."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _plain(value: Any) -> bool:
    """Whether ``value`` is a dict, list or tuple of nothing but str, int, bool, None and more of these, with
    str keys none of which is digits alone. Each level is looked over by passes in C, not a loop: this runs on
    every webhook body, and a level of scalars alone (most are) takes one pass over their types."""
    if type(value) is dict:
        try:  # a key of digits alone may be an array index; str.isdigit refuses a key that is not a str
            if any(map(str.isdigit, value)):
                return False
        except TypeError:
            return False
        value = value.values()
    elif type(value) is not list and type(value) is not tuple:
        return False
    if _SCALARS.issuperset(map(type, value)):
        return True
    for v in value:  # noqa: SIM110 -- a loop: all() over a generator costs a frame switch per item
        if type(v) not in _SCALARS and not _plain(v):
            return False
    return True


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(value) if -_MAX_SAFE <= value <= _MAX_SAFE else number(float(value)))
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in _keys(value):
            if not first:
                out.append(",")
            first = False
            out.append(_string(str(key)))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"not JSON-shaped: {type(value).__name__}")


def _string(s: str) -> str:
    quoted: str = _encode_string(s)
    if _SURROGATE.search(quoted):  # only lone ones remain: a parsed pair is one code point
        quoted = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
    return quoted


def _is_index(key: Any) -> bool:
    return isinstance(key, str) and key.isascii() and key.isdigit() and str(int(key)) == key and int(key) <= _MAX_INDEX


def _keys(obj: dict[Any, Any]) -> list[Any]:
    """JavaScript's property order: array indices ascending, then the other keys as inserted."""
    indices = [k for k in obj if _is_index(k)]
    if not indices:
        return list(obj)
    return sorted(indices, key=int) + [k for k in obj if not _is_index(k)]


def number(x: float) -> str:
    """ECMAScript Number::toString(x): the shortest round-trip digits, placed as the standard says."""
    if not math.isfinite(x):
        return "null"  # JSON.stringify writes NaN and the infinities as null
    if x == 0:
        return "0"
    if x < 0:
        return "-" + number(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point  # value = 0.digits × 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"
