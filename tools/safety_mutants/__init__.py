"""The mutation check of the safety case: each row of docs/safety.md has mutants (small edits
that remove or weaken its mitigation) and the tests the row names must fail on every one.

`python -m tools.safety_mutants` runs them all (see __main__ for the options); `catalogue`
holds the mutants, `doc` reads the rows, `runner` copies the sources and runs pytest.
"""
