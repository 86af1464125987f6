"""Errors as the one line a user reads (a notification, a CLI message, a log field)."""
from __future__ import annotations


def one_line(error: BaseException) -> str:
    """The first non-empty line of ``error``'s message, or its type name when it has none.

    Library errors often carry multi-line details (tracebacks of C++ checks, hints); the product
    shows one line and leaves the rest to the log.
    """
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class MissingCapability(ImportError):
    """An optional package, or a part of one, that a feature needs is absent; one line naming it and the fix.

    Raised instead of the bare ``ImportError``/``AttributeError`` a library gives (e.g. OpenCV 5 has no
    ``cv2.CascadeClassifier``), so callers report it in one line and carry on with the other inputs.
    """
