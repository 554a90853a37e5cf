"""Loading what the pump emulator starts from: the pairing key (`--key`), the prescription
(`--rx` or the flags, re-read when the file changes) and the check of `--record` before the
pump reads it."""

import os

from tools import cli_args
from tools.pump_emulator.cli import CliError

MAX_RECORD_BYTES = 64 << 20


def load_key(args):
    """The pairing key from --key, or None (unpaired: bolus tags are not checked)."""
    if args.key is None:
        return None
    from firmware import rxstore

    try:
        key = cli_args.read_limited(args.key, "the key file", 4096)
    except cli_args.InputError as e:
        raise CliError(str(e))
    if not rxstore.key_ok(key):
        raise CliError("the key file %s does not hold a 32-byte pairing key" % args.key)
    return key


def parse_rx_text(args, text):
    from firmware import prescription, rxstore
    from tools.security import rx_sign

    try:
        if args.pairing_key is not None:
            return rx_sign.verify_text(text, args.pairing_key)
        return prescription.parse_text(text)
    except prescription.PrescriptionError as e:
        raise CliError("the prescription file %s is invalid: %s" % (args.rx, e.reason))
    except rxstore.RxRefused as e:
        raise CliError("the prescription file %s is refused: %s" % (args.rx, e.detail))


def reload_rx(args, pump, events, state):
    """Take a changed --rx file if it is valid (and signed, when paired); else keep the old one."""
    try:
        mtime = os.stat(args.rx).st_mtime_ns
    except OSError:
        return
    if mtime == state.get("mtime"):
        return
    state["mtime"] = mtime
    try:
        rx = parse_rx_text(args, cli_args.read_text(args.rx, "the prescription file"))
    except cli_args.InputError as e:
        events({"event": "rx_refused", "why": str(e)})
        return
    except CliError as e:
        events({"event": "rx_refused", "why": str(e)})
        return
    if pump.rx is not None and rx.version <= pump.rx.version:
        if rx.version < pump.rx.version:
            events({"event": "rx_refused", "why": "older version %d" % rx.version})
        return
    pump.rx = rx
    events({"event": "rx_change", "rx": rx_dict(rx)})


def load_prescription(args):
    """The pump's prescription from --rx or the flags, or None when neither was given."""
    flags = (args.dose_ug, args.duration_s, args.lockout_s, args.max_per_24h)
    given = [x is not None for x in flags]
    if args.rx is None and not any(given):
        return None
    try:
        from firmware import prescription
    except ImportError:
        raise CliError("firmware/prescription.py is missing, so no prescription can be read")
    if args.rx is not None:
        if any(given):
            raise CliError("give either --rx or the prescription flags, not both", 2)
        try:
            text = cli_args.read_text(args.rx, "the prescription file")
        except cli_args.InputError as e:
            raise CliError(str(e))
        return parse_rx_text(args, text)
    if not all(given):
        raise CliError("give all of --dose-ug, --duration-s, --lockout-s and --max-per-24h", 2)
    fields = {
        "version": args.rx_version,
        "dose_ug": args.dose_ug,
        "duration_s": args.duration_s,
        "lockout_s": args.lockout_s,
        "max_per_24h": args.max_per_24h,
        "cap_ug": args.cap_ug,
        "cap_window_s": args.cap_window_s,
    }
    try:
        return prescription.from_fields(fields)
    except prescription.PrescriptionError as e:
        raise CliError("the prescription is invalid: %s" % e.reason, 2)


def check_record(path):
    """Refuse a --record that is a folder, not text or too large, before the pump reads it (a
    refused record is left as it is: nothing is written)."""
    if path is not None and os.path.exists(path):
        try:
            cli_args.read_text(path, "the record file", MAX_RECORD_BYTES)
        except cli_args.InputError as e:
            raise CliError("%s; it is left as it is" % e)


def rx_dict(rx):
    keys = ("version", "dose_ug", "duration_s", "lockout_s", "max_per_24h", "cap_ug", "cap_window_s")
    return {k: getattr(rx, k, None) for k in keys}
