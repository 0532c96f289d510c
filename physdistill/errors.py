"""The one exception type users see for bad input.

Every check on user input raises :class:`PhysDistillError` with a message that names the bad
value, what was expected and, where there is one, the fix. The CLI prints it as one line and
exits with status 2, without a traceback.
"""


class PhysDistillError(ValueError):
    """Bad user input or a file that cannot be used (corrupt, foreign, incompatible)."""
