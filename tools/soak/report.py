"""Printing the soak's progress and summaries; each summary function returns the exit status
(0 clean, 1 when anything that must be 0 is not)."""

import sys


def _out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _dhms(ms):
    s = ms // 1000
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return "%dd %02dh %02dm %02ds" % (d, h, m, s)


def _pairs(d):
    if not d:
        return "none"
    return ", ".join("%s %d" % (k, d[k]) for k in sorted(d, key=lambda k: (-d[k], k)))


# ---- soak ----------------------------------------------------------------------------------------
def soak_progress(done, totals, world, wall):
    c = world.checker
    _out(
        "soak: %d steps, %.0f s, %.0f steps/s, episode %d (%s) at %s, violations %d"
        % (done, wall, done / wall if wall else 0, totals.episodes + 1, getattr(world, "preset", "?"), _dhms(world.elapsed_ms), totals.violation_count + c.violation_count)
    )


def soak(t, seed):
    days = t.sim_ms / 86400000.0
    _out("")
    _out("soak summary (seed %d)" % seed)
    _out("  steps run:            %d in %.1f s wall (%.0f steps/s), %d episodes, %d polls" % (t.steps, t.wall_s, t.steps / t.wall_s if t.wall_s else 0, t.episodes, t.polls))
    _out("  simulated time:       %s (%.1f days; %.2f sim-days per wall second)" % (_dhms(t.sim_ms), days, days / t.wall_s if t.wall_s else 0))
    _out("  actions:              %s" % _pairs(t.actions))
    _out("  faults injected:      %s" % _pairs(t.faults))
    _out("  link frame faults:    %s" % _pairs(t.link_faults))
    _out("  gestures completed:   %d (hold complete); PRESS records %d" % (t.hold_completes, t.kinds.get("press", 0)))
    _out("  requests granted:     %d" % t.granted)
    _out("  requests denied:      %d by reason: %s" % (sum(t.denied.values()), _pairs(t.denied)))
    _out("  refused by the pump:  %d by reason: %s" % (sum(t.pump_refused.values()), _pairs(t.pump_refused)))
    _out("  boluses delivered:    %d started by the pump (%s)" % (t.delivered, _pairs(t.pump_outcomes)))
    _out("  event log:            %d records committed, %d torn tails dropped (%d bytes), %d boot-time log checks" % (t.committed, t.torn_tails, t.torn_bytes, t.log_checks))
    _out("  log records by kind:  %s" % _pairs(t.kinds))
    _out("  pump refills:         %d" % t.refills)
    _out("  invariant violations: %d%s" % (t.violation_count, "" if not t.violations else " (" + _pairs(t.violations) + ")"))
    for x in t.examples[:20]:
        _out("    " + x)
    return 1 if t.violation_count else 0


# ---- fuzz ----------------------------------------------------------------------------------------
def fuzz_progress(target, done, res):
    _out("fuzz: %s %d inputs, %d escaped, %d accepted-but-invalid" % (target, done, res.escaped, res.invalid))


def fuzz(results):
    _out("")
    _out("fuzz summary")
    _out("  %-26s %10s %10s %10s %12s %14s" % ("target", "inputs", "accepted", "rejected", "exceptions", "accepted-but"))
    _out("  %-26s %10s %10s %10s %12s %14s" % ("", "", "", "", "escaped", "-invalid"))
    bad = 0
    for r in results:
        _out("  %-26s %10d %10d %10d %12d %14d" % (r.name, r.inputs, r.accepted, r.rejected, r.escaped, r.invalid))
        bad += r.escaped + r.invalid
        for x in r.examples[:5]:
            _out("      " + x)
    total = sum(r.inputs for r in results)
    _out("  total inputs tried %d, exceptions escaped %d, accepted-but-invalid %d" % (total, sum(r.escaped for r in results), sum(r.invalid for r in results)))
    return 1 if bad else 0


# ---- power cuts ----------------------------------------------------------------------------------
def powercut_progress(done, total, res):
    _out("powercut: %d/%d writes, %d cuts, %d lost" % (done, total, res.cuts, res.lost))


def powercut(res):
    _out("")
    _out("power-cut campaign summary (%s session, seed %d)" % (res.session, res.seed))
    _out("  session recorded:        %s simulated, %d storage writes (%d appends, %d atomic replaces), %d records committed" % (_dhms(res.sim_ms), res.writes, res.appends, res.replaces, res.records))
    _out("  power cuts:              %d (every byte of every append, and each replace)" % res.cuts)
    _out("  committed records lost:  %d" % res.lost)
    _out("  torn tails dropped:      %d (%d bytes), torn tail mis-measured %d" % (res.torn_tails, res.torn_bytes, res.torn_wrong))
    _out("  boots checked:           %d App boots, %d unclosed requests recovered as uncertain, %d problems" % (res.app_boots, res.recovered_uncertain, res.app_problems))
    _out("  appends after reboot:    %d checked, %d misaligned" % (res.reappends, res.misaligned))
    _out("  wall time:               %.1f s (%.0f cuts/s)" % (res.wall_s, res.cuts / res.wall_s if res.wall_s else 0))
    for x in res.examples[:20]:
        _out("    " + x)
    bad = res.lost + res.app_problems + res.misaligned + res.torn_wrong
    _out("  result:                  %s" % ("PASS" if not bad else "FAIL"))
    return 1 if bad else 0
