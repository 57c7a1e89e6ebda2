"""
The shopper simulator behind `cartback demo` (architecture.md, `demo/`): a generated catalog
and population (`model`), pure rules for how shoppers answer a touch (`model`), and a driver
that plays them through the real HTTP API against the real worker on a simulated clock
(`runner`), keeping the truth it knows beside what the report measures.
"""
