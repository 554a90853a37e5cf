"""A programming session: validate, sign, compare with what each device holds, confirm, write.

`build_rx(args)` makes the Prescription (from a text file or options); `Session(rx, key,
targets)` reads and checks every target before anything is written, then `write()` installs
the signed blob on the pump first and the handheld second, each atomically, reading it back.
Interrupted anywhere, each device holds a complete prescription (the old one, or the new one);
running the same command again finishes the job (a device that already has it is skipped).
"""

from firmware import prescription, rxstore
from tools import cli_args
from tools.clinician.errors import EXIT_FAILED, EXIT_USAGE, EXIT_WRONG_KEY, ClinicianError
from tools.security import rx_sign

FIELDS = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")
REQUIRED = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h")
RX = rxstore.RX_FILE


def _sentence(text):
    text = str(text).strip()
    return text if text.endswith(".") else text + "."


def build_rx(rx_file=None, values=None):
    """A validated Prescription from a `key=value` text file or a dict of option values."""
    try:
        if rx_file is not None:
            try:
                text = cli_args.read_text(rx_file, "the prescription file", 64 * 1024)
            except cli_args.InputError as e:
                raise ClinicianError(_sentence(str(e)[:1].upper() + str(e)[1:]), EXIT_USAGE)
            return prescription.parse_text(text)
        missing = [name for name in REQUIRED if values.get(name) is None]
        if missing:
            raise ClinicianError(
                "Give --rx FILE or all of --%s (missing: --%s)."
                % (" --".join(n.replace("_", "-") for n in REQUIRED), " --".join(n.replace("_", "-") for n in missing)),
                EXIT_USAGE,
            )
        fields = {name: values.get(name) or 0 for name in FIELDS}
        for name in REQUIRED:
            fields[name] = values[name]
        return prescription.from_fields(fields)
    except prescription.PrescriptionError as e:
        raise ClinicianError("Invalid prescription: " + _sentence(e.reason), EXIT_USAGE)


def load_key(path):
    try:
        key = cli_args.read_limited(path, "the key file", 4096)
    except cli_args.InputError as e:
        raise ClinicianError(_sentence(str(e)[:1].upper() + str(e)[1:]), EXIT_USAGE)
    if not rxstore.key_ok(key):
        raise ClinicianError("The key file %s does not hold a 32-byte key (make one with keygen)." % path, EXIT_USAGE)
    return key


def fields_of(rx):
    return {name: getattr(rx, name) for name in FIELDS}


class TargetState:
    """What one target holds now and what the session will do with it."""

    def __init__(self, target, current_blob, current_rx, note, blob):
        self.target = target
        self.blob = blob  # what will be written to this target
        self.current_blob = current_blob
        self.current_rx = current_rx
        self.note = note  # 'none', 'valid', or why the current one is unusable
        self.action = "write"  # or 'skip' (it already holds exactly this blob)


class Session:
    def __init__(self, rx, key, targets, key_name="the key"):
        self.rx = rx
        self.key = key
        self.key_name = key_name
        self.blob = rx_sign.sign(rx, key)  # the handheld's form; each target signs its own
        self.targets = list(targets)  # write order: pump first, then the handheld
        self.states = []

    def inspect(self):
        """Read and judge every target; raises ClinicianError before anything is written."""
        self.states = []
        for t in self.targets:
            cur = t.read([RX])[RX]
            state = self._judge(t, cur)
            self.states.append(state)
        return self.states

    def _judge(self, t, cur):
        blob = t.signed(self.rx, self.key)
        if cur is None:
            state = TargetState(t, None, None, "none", blob)
        else:
            try:
                state = TargetState(t, cur, t.verify(cur, self.key, 0), "valid", blob)
            except rxstore.RxRefused as e:
                if e.code == rxstore.BAD_SIGNATURE:
                    raise ClinicianError(
                        "Wrong key: the prescription on the %s does not verify with %s." % (t.where(), self.key_name),
                        EXIT_WRONG_KEY,
                    )
                state = TargetState(t, cur, None, "invalid (%s)" % e.reason, blob)
        if state.current_rx is not None and state.current_rx == self.rx and state.current_rx.version == self.rx.version:
            state.action = "skip"
            return state
        if state.current_rx is not None and state.current_rx.version >= self.rx.version:
            raise ClinicianError(
                "Version %d is not newer than version %d on the %s; a new prescription needs a higher version."
                % (self.rx.version, state.current_rx.version, t.where()),
                EXIT_USAGE,
            )
        refusal = t.precheck(blob)
        if refusal == "bad_signature":
            raise ClinicianError("Wrong key: the %s is paired with another key than %s." % (t.where(), self.key_name), EXIT_WRONG_KEY)
        if refusal == "no_key":
            raise ClinicianError(
                "The %s has no key; pair it first (python -m tools.clinician pair --key KEY ...)." % t.where(), EXIT_WRONG_KEY
            )
        if refusal is not None:
            raise ClinicianError("The %s would refuse this prescription (%s)." % (t.where(), refusal), EXIT_FAILED)
        return state

    def table(self):
        """Old and new values side by side, one line per field; changed fields marked."""
        heads = ["field"] + ["%s now" % s.target.label for s in self.states] + ["new"]
        rows = [heads]
        new = fields_of(self.rx)
        for name in FIELDS:
            row = [name]
            changed = False
            for s in self.states:
                if s.current_rx is None:
                    row.append("-" if s.note == "none" else "?")
                    changed = True
                else:
                    v = getattr(s.current_rx, name)
                    row.append(str(v))
                    changed = changed or v != new[name]
            row.append(str(new[name]) + ("   <- changed" if changed else ""))
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(heads) - 1)]
        lines = []
        for r in rows:
            lines.append("  ".join(r[i].ljust(widths[i]) for i in range(len(widths))) + "  " + r[-1])
        for s in self.states:
            if s.note not in ("valid", "none"):
                lines.append("note: the prescription on the %s is %s; it will be replaced." % (s.target.where(), s.note))
            if s.action == "skip":
                lines.append("note: the %s already holds this prescription; it is left as it is." % s.target.where())
        return "\n".join(lines)

    def pending(self):
        return [s for s in self.states if s.action == "write"]

    def write(self, say=print):
        """Install on each target in order (pump first), reading each one back."""
        for s in self.pending():
            t = s.target
            refusal = t.install(s.blob)
            if refusal is not None:
                raise ClinicianError("The %s refused the prescription (%s); it keeps the old one." % (t.where(), refusal))
            back = t.read([RX])[RX]
            if back != s.blob:
                raise ClinicianError("Reading back the %s gave different bytes; program it again." % t.where())
            say("wrote version %d to the %s (read back and verified)" % (self.rx.version, t.where()))
