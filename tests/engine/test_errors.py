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


def test_every_user_error_type_derives_from_the_one_base():
    from panohead.checkpoint import CheckpointError
    from panohead.data.align import AlignmentError
    from panohead.data.dataset import DatasetError
    from panohead.editing.session import SessionError
    from panohead.errors import MissingCapability, UserError
    from panohead.images import ImageTooLarge
    from panohead.metrics.weights import MissingWeightsError
    from panohead.official import OfficialCheckpointError
    from panohead.official.architecture import UnsupportedCheckpoint
    from panohead.untrusted import UntrustedDataError

    kinds = (CheckpointError, AlignmentError, DatasetError, SessionError, MissingCapability, ImageTooLarge)
    kinds += (MissingWeightsError, OfficialCheckpointError, UnsupportedCheckpoint, UntrustedDataError)
    assert all(issubclass(kind, UserError) for kind in kinds)
    assert issubclass(MissingCapability, ImportError) and issubclass(MissingWeightsError, FileNotFoundError)


def test_the_cli_prints_any_user_error_as_its_first_line():
    import click
    import pytest

    from panohead.cli.common import user_errors
    from panohead.errors import UserError

    class Unheard(UserError):
        pass

    @user_errors
    def command() -> None:
        raise Unheard("thing.bin: cannot be read\n(details for the log)")

    with pytest.raises(click.ClickException) as caught:
        command()
    assert caught.value.format_message() == "thing.bin: cannot be read\\n(details for the log)"
