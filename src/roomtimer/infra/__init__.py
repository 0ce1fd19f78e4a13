"""What use cases stand on: database, Redis, rate limits, metrics, tokens, tasks, counts."""
