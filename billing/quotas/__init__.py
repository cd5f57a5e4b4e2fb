"""The quota and overage rules, by the time facts happened.

``rules`` holds the pure arithmetic (no database): states, the counter
fold over a period's timeline, storage day by day, money. ``facts`` loads
what the rules need from the facts themselves (events, grants, consents),
so period close and cache rebuilds never depend on a cache. The selectors
feed the same rules from the caches for pages and the API.
"""
