"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix (bad path, malformed file, wrong class count, absent device).

    The message is shown as is, on one line, without a traceback; it should name the file/row/option at fault.
    """
