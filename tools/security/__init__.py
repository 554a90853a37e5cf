"""The host side of the handheld's security: what the pump and the clinician do, never the handheld.

`tools.security.pump_auth`: the pump's check of a bolus command's tag and counter (the handheld
only computes tags, `firmware.auth`). `tools.security.rx_sign`: signing prescriptions for the
clinician tool and the pump emulator's signed text file (the handheld only verifies,
`firmware.rxstore`). Same bytes on the wire and on flash as before the split: docs/security.md.
"""
