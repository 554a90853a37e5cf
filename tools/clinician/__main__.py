"""`python -m tools.clinician ...`: see tools/clinician/cli.py."""

import sys

from tools.clinician.cli import main

if __name__ == "__main__":
    sys.exit(main())
