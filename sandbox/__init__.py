"""A local stand-in for the 1001Proxy reseller API (see docs/1001proxy-api.md).

Modules: `seed` (reference data, prices, coupons, currencies), `state` (the in-memory domain
and its Python admin API), `validation` (request rules), `ratelimit` (token buckets),
`addresses` (deposit address formats), `wire` (JSON shapes), `jsonout` (money-exact JSON),
`server` (aiohttp routes and `SandboxServer`), `admin` (the /_admin routes), `clock`
(fake clocks for tests). Run it with `python -m sandbox`.
"""
