"""Benchmarks (`make bench`): NLU quality, latency/throughput, scale-out and cost — always against a baseline
measured in the same run, so that figures are ratios, not absolute times."""
