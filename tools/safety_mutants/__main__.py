"""`python -m tools.safety_mutants [--row KEY] [--mutant NAME] [--quick] [--jobs N] [--list]`

For every row of docs/safety.md, applies each of its mutants (tools/safety_mutants/catalogue.py)
to a temporary copy of the sources and runs the tests the row names there (pytest -x -q). A
mutant is killed when one of them fails. Prints one line per mutant with its time, then
"N of M killed". Exit 0 only when every mutant selected was killed and the catalogue agrees
with docs/safety.md; 1 when one survived or a check failed; 2 for bad arguments.
"""

import concurrent.futures
import sys
import time

from tools import cli_args
from tools.safety_mutants import catalogue, runner


def parse_args(argv):
    p = cli_args.Parser(
        module="tools.safety_mutants",
        description="Prove the safety case: every mutant of a docs/safety.md row must make one of "
        "the tests named in that row fail.",
    )
    p.add_argument("--row", action="append", metavar="KEY", help="only this row (its # key); repeatable")
    p.add_argument("--mutant", action="append", metavar="NAME", help="only this mutant; repeatable")
    p.add_argument("--quick", action="store_true", help="only the mutants marked quick (run by make test)")
    p.add_argument("--list", action="store_true", help="list rows, their tests and mutants; run nothing")
    p.add_argument("--jobs", type=cli_args.whole(1, 64, what="a number of jobs from 1 to 64"), default=1, metavar="N", help="mutants run at once (default 1)")
    p.add_argument(
        "--timeout", type=cli_args.whole(1, 86400, what="a number of seconds from 1 to 86400"), default=900, metavar="S", help="a mutant still running after S s is killed (default 900)"
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the first run of the selected rows' tests on the unmutated sources (they must pass)",
    )
    p.add_argument("--verbose", action="store_true", help="print pytest's output for mutants not killed")
    return p.parse_args(argv)


def select(args, rows):
    """(mutants to run, sentences for selections that match nothing)."""
    problems = []
    chosen = list(catalogue.MUTANTS)
    if args.row:
        keys = {r.key for r in rows}
        for key in args.row:
            if key not in keys:
                problems.append("docs/safety.md has no row %r" % key)
        chosen = [m for m in chosen if m.row in args.row]
    if args.mutant:
        for name in args.mutant:
            if catalogue.by_name(name) is None:
                problems.append("the catalogue has no mutant %r" % name)
        chosen = [m for m in chosen if m.name in args.mutant]
    if args.quick:
        chosen = [m for m in chosen if m.quick]
    return chosen, problems


def _list(rows):
    for row in rows:
        print("%s  %s" % (row.key or "(no key)", row.hazard))
        if row.residual:
            print("    skipped: %s" % catalogue.SKIPPED.get(row.key, "(no reason given)"))
            continue
        for node in row.tests:
            print("    test    %s" % node)
        for m in catalogue.for_row(row.key):
            print("    mutant  %-42s %s%s" % (m.name, m.why, "  [quick]" if m.quick else ""))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    repo = runner.repo_root()
    rows = runner.read_doc(repo)
    problems = runner.check(repo, rows)
    if args.list:
        _list(rows)
        total = len(catalogue.MUTANTS)
        print("%d rows, %d mutants (%d quick)" % (len(rows), total, len([m for m in catalogue.MUTANTS if m.quick])))
        for p in problems:
            print("ERROR  %s" % p)
        return 1 if problems else 0
    chosen, select_problems = select(args, rows)
    if select_problems:
        for p in select_problems:
            print("safety_mutants: %s." % p, file=sys.stderr)
        return 2
    for p in problems:
        print("ERROR  %s" % p)
    tests_of = {r.key: r.tests for r in rows}
    wall = time.monotonic()
    if not args.no_baseline:
        nodes = []
        for m in chosen:
            for node in tests_of.get(m.row, []):
                if node not in nodes:
                    nodes.append(node)
        base = runner.run(repo, None, nodes, args.timeout)
        print("baseline: %d tests on the unmutated sources %s in %.1f s" % (len(nodes), "pass" if base.status == runner.SURVIVED else "FAIL", base.seconds))
        if base.status != runner.SURVIVED:
            print("ERROR  the named tests must pass before mutating: %s" % (base.by or base.detail))
            if args.verbose:
                print(base.output)
            return 1
    results = []
    width = max([len(m.name) for m in chosen] + [10])

    def one(m):
        return runner.run(repo, m, tests_of.get(m.row, []), args.timeout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(one, m) for m in chosen]
        for i, fut in enumerate(concurrent.futures.as_completed(futures)):
            r = fut.result()
            results.append(r)
            what = r.by if r.status == runner.KILLED else (r.detail or "every named test passed")
            print("[%2d/%d] %-4s %-*s %-8s %6.1f s  %s" % (i + 1, len(chosen), r.mutant.row, width, r.mutant.name, r.status, r.seconds, what))
            if args.verbose and r.status != runner.KILLED:
                print(r.output)
            sys.stdout.flush()
    wall = time.monotonic() - wall
    killed = [r for r in results if r.status == runner.KILLED]
    survived = [r for r in results if r.status == runner.SURVIVED]
    errors = [r for r in results if r.status == runner.ERROR]
    times = sorted(r.seconds for r in results)
    print(
        "%d of %d killed (%d survived, %d errors); %.0f s wall with %d job(s), per mutant median %.1f s, max %.1f s"
        % (
            len(killed), len(results), len(survived), len(errors), wall, args.jobs,
            times[len(times) // 2] if times else 0.0, times[-1] if times else 0.0,
        )
    )  # fmt: skip
    for r in survived:
        print("SURVIVED  %s (row %s): %s" % (r.mutant.name, r.mutant.row, r.mutant.why))
    ok = not survived and not errors and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
