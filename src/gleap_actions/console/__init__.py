"""The web console under `/console/`, served by `serve` itself (off unless an admin token is configured).

Modules: `auth` (sign-in with the admin token, session cookie, CSRF), `activity` (per-mapping outcomes over
the last hour and day, sampled from the process's metrics), `live` (a bounded ring of recent events and what
became of them), `data` (the store and metric reads behind each page), `html` and `charts` (server-side
markup and inline SVG), `pages` (one function per page), `app` (the routes).
"""
