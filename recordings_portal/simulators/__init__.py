"""The five vendor APIs served over real HTTP, for the demo, the tests and the benchmarks.

Production code never imports this package: it is our reading of the vendor documents in
``shared/vendor-apis``, served so that connectors are exercised over real sockets.
"""
