"""Read-side assembly of the web dashboards: what a page shows, built from the selectors.

Each module answers one audience's pages with plain dataclasses, so a view only renders them
and the API can serve the same figures. Nothing here decides a verdict or writes, except the
visit marker of the portfolio, which its view sets.
"""
