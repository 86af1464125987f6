"""panohead.errors.one_line: the line of an error a user reads."""
from panohead.errors import one_line


def test_one_line_is_the_first_non_empty_line_of_the_message():
    assert one_line(RuntimeError("\n  shape mismatch: (3,) vs (4,)\nTraceback of the C++ check...")) == "shape mismatch: (3,) vs (4,)"


def test_an_error_without_a_message_is_named_by_its_type():
    assert one_line(KeyError()) == "KeyError"
    assert one_line(ValueError("   ")) == "ValueError"
