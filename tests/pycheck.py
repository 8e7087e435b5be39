"""pycheck.py -- the harness of the Python suites, as check.h is of the C ones.

    check = Checks("FAIL book: ")       # the prefix of a failure's line
    check(ok, "what was checked")       # counts it; prints the failure; returns ok
    sys.exit(check.finish())            # "N passed, N failed" (tests/run reads
                                        # that line), exit 1 if any failed

Checks("FAIL ", ok_prefix="ok   ") also prints a line for each check that
passes (test_faults.py, whose trials are slow enough to want them)."""


class Checks:
    def __init__(self, fail_prefix="FAIL: ", ok_prefix=None):
        self.fail_prefix, self.ok_prefix = fail_prefix, ok_prefix
        self.passed = self.failed = 0

    def __call__(self, ok, what):
        if ok:
            self.passed += 1
            if self.ok_prefix is not None:
                print(self.ok_prefix + what)
        else:
            self.failed += 1
            print(self.fail_prefix + what)
        return bool(ok)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0
