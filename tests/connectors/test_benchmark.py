"""The connectors benchmark runs at a tiny size and measures what it names."""


def test_connectors_benchmark_reads_every_machine():
    from benchmarks import connectors

    results = {r.figure: r for r in connectors.run(machines=150, repeats=1)}
    assert results["parse + map fleet pages"].value > 0
    assert results["walk over HTTP + parse + map"].value > 0
