"""One exception type for user mistakes: the CLI prints its message, never a stack trace."""


class HfFairError(ValueError):
    """A problem with the user's input (flag, file, column, group) that they can fix.

    The message names the culprit and says what to do. Every check of a flag or a file raises
    this one type (a ``ValueError``, so library callers may catch either); ``hf_fair.cli`` is
    the one place that turns it into one line on stderr and exit code 2. A plain ``ValueError``
    is left for programming mistakes inside the library.
    """


def first_line(e: BaseException) -> str:
    """``Type: first line of the message``, the line whole: a message cut at a fixed length ends
    inside a word or a quote ("set 'HF_HUB_OFFLINE"), and the reader loses the part that says what
    to do. A message without text gives the type's name alone."""
    line = next((s.strip() for s in str(e).splitlines() if s.strip()), "")
    return f"{type(e).__name__}: {line}" if line else type(e).__name__
