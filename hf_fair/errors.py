"""One exception type for user mistakes: the CLI prints its message, never a stack trace."""


class HfFairError(ValueError):
    """A problem with the user's input (flag, file, column, group) that they can fix.

    The message names the culprit and says what to do. Every check of a flag or a file raises
    this one type (a ``ValueError``, so library callers may catch either); ``hf_fair.cli`` is
    the one place that turns it into one line on stderr and exit code 2. A plain ``ValueError``
    is left for programming mistakes inside the library.
    """
