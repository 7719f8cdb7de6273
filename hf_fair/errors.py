"""One exception type for user mistakes: the CLI prints its message, never a stack trace."""


class HfFairError(Exception):
    """A problem with the user's input (flag, file, column, group) that they can fix.

    The message names the culprit and says what to do.
    """
