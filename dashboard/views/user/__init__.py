"""Pages of one billing account for the people in it.

Personal and company accounts share these pages (companies add job slots in
``views/company.py``), one module per concern: ``account`` (home, switching,
overview, usage), ``packs`` (the catalogue, buying, renewing, receipts),
``overage`` (consent per meter) and ``charges`` (the ledger and paying it).
Every number comes from billing selectors and every change from billing
services: views parse the request, call, and render.
"""
