"""`make bench`: every benchmark, one after the other."""

from bench import jwks, launch

for benchmark in (jwks, launch):
    benchmark.main()
    print()
