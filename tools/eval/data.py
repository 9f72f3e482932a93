"""Labelled scalar series for the evaluation: real ones from the datasets
that Debian's python3-statsmodels ships, and seeded synthetic ones.

Nothing is stored in the repository: the real series are read from the
installed package, the synthetic ones generated here. Each series is a dict:
name, values (float32), labels (indices of the labelled anomalies), note
(what the labels are and where they come from).
"""
import numpy as np

# The real series and their labels. A label is a documented event, not a
# feature picked from the data; series without one are there for their false
# alarms (every detection on them is a false positive).
REAL_NOTES = {
    "nile": "Nile flow at Aswan, yearly 1871-1970 (statsmodels 'nile', Cobb 1978). "
            "Label 1898: the documented change point (construction of the first "
            "Aswan dam began in 1898; Cobb 1978, Durbin & Koopman 2001).",
    "elnino": "Nino 1+2 sea surface temperature, monthly 1950-2010 (statsmodels "
              "'elnino', NOAA). Labels 1982-05 and 1997-05: onsets of the two "
              "'very strong' El Nino events of the period in NOAA CPC's Oceanic "
              "Nino Index (first AMJ season >= +0.5 C, events of 1982-83 and 1997-98).",
    "macro-gdp": "US real GDP, quarterly growth of log GDP, 1959Q2-2009Q3 "
                 "(statsmodels 'macrodata'). Label 2008Q3: Lehman Brothers' failure "
                 "(15 Sep 2008), inside the NBER recession of Dec 2007 - Jun 2009.",
    "co2": "Atmospheric CO2 at Mauna Loa, weekly 1958-2001 (statsmodels 'co2', "
           "Scripps). No label: trend and season only; its 59 missing weeks "
           "are NaN (real dropouts the element must skip).",
    "sunspots": "Yearly sunspot numbers 1700-2008 (statsmodels 'sunspots', SIDC). "
                "No label: a quasi-periodic series.",
}


def real():
    import statsmodels.api as sm
    d = sm.datasets
    out = []
    nile = d.nile.load_pandas().data
    years = nile["year"].astype(int).tolist()
    out.append(("nile", nile["volume"].values, [years.index(1898)]))
    e = d.elnino.load_pandas().data
    sst = e.iloc[:, 1:].values.ravel()
    start = int(e["YEAR"].iloc[0])
    out.append(("elnino", sst, [(y - start) * 12 + 4 for y in (1982, 1997)]))
    m = d.macrodata.load_pandas().data
    gdp = np.diff(np.log(m["realgdp"].values))
    qs = list(zip(m["year"].astype(int), m["quarter"].astype(int)))[1:]
    out.append(("macro-gdp", gdp, [qs.index((2008, 3))]))
    out.append(("co2", d.co2.load_pandas().data["co2"].values, []))
    out.append(("sunspots", d.sunspots.load_pandas().data["SUNACTIVITY"].values, []))
    return [dict(name=n, values=np.asarray(v, np.float32), labels=l, note=REAL_NOTES[n])
            for n, v, l in out]


KINDS = ("spike", "level", "drift", "period", "variance", "stuck", "dropout")


def synthetic_one(kind, seed, n=4000):
    """A sensor-like series: trend + daily season + AR(1) noise, with one
    anomaly of the given kind starting at a seeded position in [0.5, 0.8] n."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    t = np.arange(n, dtype=np.float64)
    period = 96.0 * rng.uniform(0.9, 1.1)       # a "day" of 15-min samples
    amp = rng.uniform(1.0, 3.0)
    noise_sd = rng.uniform(0.15, 0.3) * amp
    phi = rng.uniform(0.5, 0.9)
    e = rng.normal(0.0, noise_sd * np.sqrt(1 - phi * phi), n)
    ar = np.empty(n)
    ar[0] = e[0]
    for i in range(1, n):
        ar[i] = phi * ar[i - 1] + e[i]
    base = 20.0 + rng.uniform(-1, 1) * t / n * amp   # slow trend
    at = int(rng.uniform(0.5, 0.8) * n)
    phase = 2 * np.pi * t / period
    if kind == "period":
        # the cycle runs at 1.6x its rate from `at` on, continuously in phase
        phase = np.where(t < at, phase, 2 * np.pi * (at + (t - at) * 1.6) / period)
    x = base + amp * np.sin(phase) + ar
    if kind == "spike":
        x[at] += rng.choice([-1, 1]) * 8 * noise_sd
    elif kind == "level":
        x[at:] += rng.choice([-1, 1]) * 4 * noise_sd
    elif kind == "drift":
        x[at:] += (t[at:] - at) * 6 * noise_sd / (0.1 * n)
    elif kind == "variance":
        x[at:] += ar[at:] * 2.0
    elif kind == "stuck":
        x[at:at + int(1.5 * period)] = x[at]
    elif kind == "dropout":
        x[at:at + 20] = 0.0
    return dict(name="syn-%s-%d" % (kind, seed), values=x.astype(np.float32), labels=[at],
                note="synthetic %s at %d (seed %d)" % (kind, at, seed))


def synthetic(seeds=(1, 2)):
    return [synthetic_one(k, s) for s in seeds for k in KINDS]


def corpus(which="full"):
    """'full': every real series and two seeds of each synthetic kind;
    'quick': Nile and one synthetic level shift and spike (for CI);
    'heldout': two more seeds of every synthetic kind, to check settings
    chosen on 'full'."""
    if which == "quick":
        r = [s for s in real() if s["name"] == "nile"]
        return r + [synthetic_one("level", 1, 1000), synthetic_one("spike", 1, 1000)]
    if which == "real":
        return real()
    if which == "synthetic":
        return synthetic()
    if which == "heldout":
        # other seeds, never used to choose settings
        return synthetic(seeds=(3, 4))
    return real() + synthetic()
