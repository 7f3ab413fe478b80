"""Settings gunicorn serves bench/browse with: the product's own settings (production, from the
environment bench/browse generates) plus two bench-only additions, so the product carries no
bench code:

- every response says how many SQL queries it ran (X-Bench-Queries), counted outermost so a
  response served from a cache counts what that cost;
- /bench/bare/ (bench.browse_urls), a DRF view that touches no database: the floor the catalogue's
  pages are measured against, behind the same middleware on the same server.
"""

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

ROOT_URLCONF = "bench.browse_urls"
MIDDLEWARE = ["bench.browse_urls.QueryCountMiddleware", *MIDDLEWARE]
