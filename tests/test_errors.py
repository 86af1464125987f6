"""panohead.errors.one_line: the line of an error a user reads."""

from panohead.errors import one_line


def test_one_line_is_the_first_non_empty_line_of_the_message():
    assert (
        one_line(RuntimeError("\n  shape mismatch: (3,) vs (4,)\nTraceback of the C++ check..."))
        == "shape mismatch: (3,) vs (4,)"
    )


def test_an_error_without_a_message_is_named_by_its_type():
    assert one_line(KeyError()) == "KeyError"
    assert one_line(ValueError("   ")) == "ValueError"


def test_printable_escapes_control_characters_and_keeps_one_line():
    from panohead.errors import printable

    text = printable("a\x1b[2K\rb\nc\u2028d\u202ee\x85f\tg")
    assert text == "a\\x1b[2K\\rb\\nc\\u2028d\\u202ee\\x85f\\tg"
    assert text.isprintable() and len(text.splitlines()) == 1


def test_printable_cuts_long_text():
    from panohead.errors import printable

    assert printable("x" * 10_000, limit=50) == "x" * 47 + "..."


def test_one_line_errors_are_printable_whoever_raises_them():
    from panohead.checkpoint import CheckpointError

    assert (
        str(CheckpointError("model.pkl: calls \x1b[31mos.system\nwrote x"))
        == "model.pkl: calls \\x1b[31mos.system\\nwrote x"
    )
    assert one_line(RuntimeError("\x1b]0;title\x07 failed")) == "\\x1b]0;title\\x07 failed"
