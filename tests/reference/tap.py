"""A tiny TAP producer shared by the reference test scripts."""
import traceback

_results = []


def check(ok, name, detail=""):
    """One TAP line; on failure, detail follows as comment lines."""
    _results.append(bool(ok))
    print("%s %d - %s" % ("ok" if ok else "not ok", len(_results), name))
    if not ok and detail:
        for line in str(detail).splitlines():
            print("# " + line)
    return ok


def run(header, tests):
    """Run every test function (an exception is a failed check), print the
    plan, and return the exit status: 0 only if every check passed."""
    print("# " + header)
    for t in tests:
        print("# " + t.__name__)
        try:
            t()
        except Exception:
            check(False, t.__name__ + " raised", traceback.format_exc())
    print("1..%d" % len(_results))
    return 0 if all(_results) else 1
