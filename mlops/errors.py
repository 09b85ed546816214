"""The one base class of every error a user can act on.

An error derived from ``UserError`` says what was wrong, where (the file,
column, key or resource) and what to do, in its message. The CLI prints it
as one line on stderr and exits with code 1 (3 for ``GateRejected``); any
other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Something the user can fix; the message says what, where and how."""


class GateRejected(UserError):
    """The gate keeps a model out (of the endpoint, of the registry): the work did not
    fail, the model was judged. The CLI exits 3, as ``mlops gate`` does on reject, so
    that a workflow can end green with the reason shown."""
