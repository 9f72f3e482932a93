"""The real2 corpus' labels (tools/eval/data.py) against their dates, counted
here with the standard library, not with data.py's numpy calendar. The R part
is skipped when Rscript is missing; the statsmodels part always runs."""
import datetime
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "eval"))
import data  # noqa: E402
import nab  # noqa: E402
from tap import check, run  # noqa: E402


def weekdays(a, b):
    """Weekdays in [a, b)."""
    n, d = 0, a
    while d < b:
        n += d.weekday() < 5
        d += datetime.timedelta(days=1)
    return n


def test_eu_calendar():
    start = datetime.date(1991, 7, 1)
    check(weekdays(datetime.date(1991, 1, 1), start) == 129,
          "1 Jul 1991 is weekday 130 of 1991 (EuStockMarkets' tsp start)")
    check(str(data.EU_START) == "1991-07-01", "EU_START is 1 Jul 1991")
    wd = weekdays(start, datetime.date(1997, 10, 27))
    check(wd == 1650, "27 Oct 1997 is close 1650 counting weekdays", "got %d" % wd)
    lab = data.eu_index("1997-10-27")
    # either reading (holidays kept, or ~9 a year omitted) within 30 of the label
    check(abs(lab - wd) <= 30 and abs(lab - (wd - 9 * wd / 260.0)) <= 30,
          "the label is within 30 closes of both readings", "label %d" % lab)
    check(lab < data.EU_KEEP - 1, "the label is inside the kept closes")


def quarter_index(year, q):
    """Index of a quarter in a series starting 1959Q2."""
    return (year - 1959) * 4 + (q - 1) - 1


def in_scored_range(s):
    n = len(s["values"])
    return all(nab.probation(n) <= i < n for i in s["labels"])


def test_macro():
    got = {s["name"]: s for s in data.macro2()}
    for name, (y, q) in (("macro-unemp", (2008, 3)), ("macro-tbill", (1979, 4)),
                         ("macro-infl", (1973, 4))):
        s = got[name]
        check(s["labels"] == [quarter_index(y, q)], "%s labelled %dQ%d" % (name, y, q),
              "got %r" % s["labels"])
        check(len(s["values"]) == 202 and in_scored_range(s), name + ": 202 samples, label scored")


def test_r_part():
    if data.shutil.which("Rscript") is None:
        check(True, "# SKIP Rscript missing (apt-get install r-base-core)")
        return
    got = {s["name"]: s for s in data.real2()}
    check(len(got) == 10, "real2 has ten series")
    check(sum(len(s["labels"]) for s in got.values()) == 10, "and ten labels")
    feb83 = (1983 - 1969) * 12 + 1
    for name in ("uk-drivers", "uk-front"):
        check(got[name]["labels"] == [feb83] and len(got[name]["values"]) == 192,
              name + ": Feb 1983 of Jan 1969 - Dec 1984")
    for name in ("eu-dax", "eu-smi", "eu-cac", "eu-ftse"):
        check(got[name]["labels"] == [data.eu_index("1997-10-27") - 1]
              and len(got[name]["values"]) == data.EU_KEEP - 1, name + ": return before the label")
    check(got["beaver2"]["labels"] == [38] and len(got["beaver2"]["values"]) == 100,
          "beaver2: activity from sample 38")
    check(all(in_scored_range(s) for s in got.values()), "every label after probation")


def test_missing():
    which = data.shutil.which
    data.shutil.which = lambda name: None
    try:
        data.real2()
        check(False, "real2 without Rscript raises Missing")
    except data.Missing as e:
        check("r-base-core" in str(e), "real2 without Rscript raises Missing, naming the package")
    finally:
        data.shutil.which = which


if __name__ == "__main__":
    sys.exit(run("real2 labels", [test_eu_calendar, test_macro, test_r_part, test_missing]))
