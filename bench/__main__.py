"""`make bench`: every benchmark, one after the other."""

from bench import jwks

for benchmark in (jwks,):
    benchmark.main()
    print()
