"""The benchmark suite (`make bench`): one module per figure, each measured against a freshly started
appliance with its baseline taken in the same run, because only ratios from one run compare on a
shared machine. Benchmarks print and record; they never assert timings."""
