"""Which prescription was in force when, for the clinic report.

The handheld's log records each prescription install (RX_CHANGE: version, accepted or refused,
often with the time unknown) and, with every request, the dose and duration it asked for; it
does not record the lockout or the 24 h maximum. `load(path)` reads a prescription file the
clinician gives (`--rx`: the `key=value` text, or a signed `rx.bin`, whose values are read but
whose signature is not checked: the report has no key). `periods(summary, rxs, lockout_s)`
matches them to the log by version and says, in `Period.note`, what the log cannot tell.
"""

import bisect

from firmware import prescription
from tools import cli_args
from tools.clinician.errors import EXIT_USAGE, ClinicianError

TAG_LEN = 32
MAX_RX_FILE = 64 * 1024


def load(path):
    """A Prescription from a text or signed rx file; ClinicianError (usage) otherwise."""
    try:
        blob = cli_args.read_limited(path, "the prescription file", MAX_RX_FILE)
    except cli_args.InputError as e:
        raise ClinicianError("--rx: %s." % str(e).rstrip("."), EXIT_USAGE)
    try:
        if blob.startswith(b"rx1;") and len(blob) > TAG_LEN and b"\n" not in blob[:-TAG_LEN]:
            return prescription.parse_canonical(blob[:-TAG_LEN])
        return prescription.parse_text(blob.decode("utf-8"))
    except (prescription.PrescriptionError, UnicodeError, ValueError) as e:
        why = getattr(e, "reason", "not a prescription file")
        raise ClinicianError("--rx %s is not a valid prescription: %s" % (path, why.rstrip(".") + "."), EXIT_USAGE)


class Period:
    """A prescription in force from `from_t` (None: from the start of the log)."""

    def __init__(self, version, from_t, rx, how, note=""):
        self.version = version  # None when the log does not say
        self.from_t = from_t
        self.rx = rx  # a Prescription from --rx, or None
        self.how = how  # how the report knows it took effect
        self.note = note
        self.lockout_s = rx.lockout_s if rx is not None else None
        self.doses = []  # (dose_ug, duration_s, requests) asked for while it was in force
        self.mismatch = False


def periods(s, rxs=(), lockout_s=None):
    """[Period], oldest first, for Summary `s` and the Prescriptions given with --rx."""
    by_version = {}
    for rx in rxs:
        by_version[rx.version] = rx
    accepted = [c for c in s.rx_changes if c["accepted"]]
    versions = set(c["version"] for c in accepted)
    first_version = accepted[0]["version"] if accepted else None
    earlier = [v for v in by_version if v not in versions and (first_version is None or v < first_version)]
    initial = by_version[max(earlier)] if earlier else None
    out = []
    if initial is not None:
        how = "given with --rx; the log records no install of it" if not accepted else "given with --rx; in force before the first install the log records"
        out.append(Period(initial.version, None, initial, how))
    elif not accepted or accepted[0]["before_t"] != s.first_t:
        note = "the log does not say which prescription was in force" + (" before the first install it records" if accepted else "")
        out.append(Period(None, None, None, "not in the log", note + "; give its file with --rx"))
    for c in accepted:
        rx = by_version.get(c["version"])
        if c["t"] >= 0:
            how = "installed (logged)"
            from_t = c["t"]
        else:
            from_t = c["before_t"]
            how = "installed at a time the log does not hold; in force from the next timed record"
        note = "" if rx is not None else "the log holds its version only; give its file with --rx for the lockout and limits"
        out.append(Period(c["version"], from_t, rx, how, note))
    if lockout_s is not None:
        for p in out:
            if p.rx is None:
                p.lockout_s = lockout_s
                p.note = (p.note + "; " if p.note else "") + "lockout %d s given with --lockout-s" % lockout_s
    _doses(s, out)
    return out


def _doses(s, out):
    """What each period's requests asked for, and whether it matches the prescription file."""
    starts = [p.from_t if p.from_t is not None else -1 for p in out]
    counts = [dict() for _ in out]
    for q in s.requests.values():
        if q.duration_s == 0:  # its GRANTED record rotated out: dose only
            continue
        i = max(0, bisect.bisect_right(starts, q.t) - 1)
        key = (q.dose_ug, q.duration_s)
        counts[i][key] = counts[i].get(key, 0) + 1
    for p, c in zip(out, counts):
        p.doses = sorted((d, dur, n) for (d, dur), n in c.items())
        if p.rx is not None:
            p.mismatch = any(d != p.rx.dose_ug or dur != p.rx.duration_s for d, dur, _ in p.doses)


def lockout_at(plist, t):
    """The lockout (s) of the prescription in force at pump time t, or None if not known."""
    found = None
    for p in plist:
        if p.from_t is None or p.from_t <= t:
            found = p.lockout_s
    return found
