"""aiohttp middlewares: errors, auth, rate limits, security headers, request logs."""
