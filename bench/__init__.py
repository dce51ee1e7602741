"""Performance benchmark of the portal (issue 10, item 5): a data generator at city and province scale
(``python -m bench.generate``) and a runner that measures the main pages under gunicorn with Apache Bench
(``python -m bench.run``, ``make bench``). Nothing in ``portal/`` imports this package."""
