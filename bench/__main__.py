"""`make bench`: every benchmark, one after the other; `make bench ONLY="registration profile"` runs the ones
named (jwks, registration, registration_counts, launch, launch_counts, api_models, jws, database, outbound,
middleware, webhooks, pgtrips, profile, scale; the round trips to PostgreSQL, the profile and scale, which fills a
PostgreSQL database and runs for minutes, run only when named)."""

import sys
from importlib import import_module

BENCHMARKS = (
    "jwks", "registration", "registration_counts", "launch", "launch_counts", "api_models", "jws", "database",
    "outbound",
    "middleware", "webhooks",
)  # fmt: skip
KNOWN = (*BENCHMARKS, "pgtrips", "profile", "scale")

names = sys.argv[1:] or BENCHMARKS
unknown = [name for name in names if name not in KNOWN]
if unknown:
    sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(KNOWN)}")
for name in names:
    import_module(f"bench.{name}").main()
    print()
