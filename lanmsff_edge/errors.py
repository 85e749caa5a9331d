"""The exception types the CLI turns into a one-line message and exit code 1."""


class UserError(Exception):
    """A problem the user can fix (bad path, malformed file, wrong class count, absent device).

    The message is shown as is, on one line, without a traceback; it should name the file/row/option at fault.
    """


class WriteError(UserError):
    """An artifact could not be written (read-only or full disk, a file where its folder should be); the earlier
    file of that name, if any, is untouched. Caches catch it and go on without caching."""


def os_error_text(error):
    """One line for an ``OSError`` that reached the CLI: the file it concerns and the system's reason."""
    reason = error.strerror or str(error) or type(error).__name__
    names = [name for name in (error.filename, error.filename2) if name is not None]
    return f"{' → '.join(str(name) for name in names)}: {reason}" if names else reason
