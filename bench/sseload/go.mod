module rcoder.dev/bench/sseload

go 1.26
