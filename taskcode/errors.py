"""Expected faults: the CLI prints these as one line and exits non-zero.

Anything that is *not* a TaskcodeError is a bug and keeps its traceback.
"""


class TaskcodeError(Exception):
    """A fault the user can fix; the message says what and what to do."""

    exit_code = 1


class ConfigError(TaskcodeError):
    exit_code = 2


class UsageError(TaskcodeError):
    """A command's arguments cannot be used (not the config's fault): fix the command line."""

    exit_code = 2


class DatabaseError(TaskcodeError):
    exit_code = 3


class SpotifyError(TaskcodeError):
    exit_code = 4


class RetryLater(SpotifyError):
    """The service asked us to wait longer than we may sleep inside a task."""

    exit_code = 75  # EX_TEMPFAIL: the scheduler should try again later


class AuthorizationError(SpotifyError):
    """A person's credentials are missing or revoked: they must re-authorize."""

    exit_code = 5


class DataError(TaskcodeError):
    """Not enough (or unusable) data for the requested step."""

    exit_code = 6
