"""Bounds on paging parameters shared by the list APIs.

Without an upper bound an offset past 2**63 reaches PostgreSQL as an out-of-range bigint
(a 500); nobody pages a million rows deep, so anything past these is a 400.
"""
MAX_OFFSET = 1_000_000
MAX_PAGE = 100_000
