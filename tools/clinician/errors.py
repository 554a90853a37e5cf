"""The one exception the clinician tool raises on purpose, and its exit codes.

`ClinicianError(message, code)`: `message` is one sentence for stderr; the CLI prints it and
exits with `code` (never a traceback).
"""

EXIT_OK = 0
EXIT_FAILED = 1  # the check ran and found a problem (e.g. a damaged log), or the device refused
EXIT_USAGE = 2  # bad arguments, invalid prescription, no confirmation
EXIT_WRONG_KEY = 3  # the key does not match the device's
EXIT_NO_DEVICE = 4  # missing board folder, port or file
EXIT_INTERRUPTED = 130


class ClinicianError(Exception):
    def __init__(self, message, code=EXIT_FAILED):
        super().__init__(message)
        self.message = message
        self.code = code
