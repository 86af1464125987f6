"""Errors as the one line a user reads (a notification, a CLI message, a log field).

Messages often quote text from a file a stranger made (a pickle's global names, a zip member's
name, a tensor name): :func:`printable` escapes every control character in them, so a message can
neither move the cursor, recolour the terminal, nor print a second, fake line.
"""

from __future__ import annotations

import unicodedata

MESSAGE_LIMIT = 600  # characters; longer quoted content is cut with "..."

# Control characters (C0, C1, DEL), format characters (bidi overrides, zero-width marks) and the
# Unicode line and paragraph separators.
_UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp")


def printable(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` with every control/format character escaped (``\\x1b``, ``\\n``, ``\\u202e``),
    cut to ``limit`` characters: always a single line that prints as it reads."""
    escaped = []
    for char in text:
        if unicodedata.category(char) in _UNPRINTABLE:
            escaped.append(char.encode("unicode_escape").decode("ascii"))
        else:
            escaped.append(char)
    result = "".join(escaped)
    return result if len(result) <= limit else result[: limit - 3] + "..."


class UserError(ValueError):
    """Base of the errors a user reads (a bad file, value or missing piece, never a bug): the message
    names the file or value at fault and the fix, and is made :func:`printable` when raised, so it is
    one line whether it reaches a terminal, a notification or an API caller.

    The CLI turns every ``UserError`` into an ``Error: ...`` line without a traceback. It derives
    from ``ValueError`` so callers that catch bad input as ``ValueError`` keep catching it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


# Failures a user can fix, shown as one line (CLI) or a notification (viewer) without a traceback:
# ours, and the ValueError/OSError libraries raise for a bad value or an unreadable, missing or
# unwritable file.
USER_ERRORS = (UserError, ValueError, OSError)


def one_line(error: BaseException) -> str:
    """The first non-empty line of ``error``'s message (made :func:`printable`), or its type name.

    Library errors often carry multi-line details (tracebacks of C++ checks, hints); the product
    shows one line and leaves the rest to the log.
    """
    text = str(error).strip().splitlines()
    return printable(text[0]) if text else type(error).__name__


class MissingCapability(UserError, ImportError):
    """An optional package, or a part of one, that a feature needs is absent; one line naming it and the fix.

    Raised instead of the bare ``ImportError``/``AttributeError`` a library gives (e.g. OpenCV 5 has no
    ``cv2.CascadeClassifier``), so callers report it in one line and carry on with the other inputs.
    """
