"""Every JSON shape: request schemas (what is accepted) and public schemas (what is sent)."""
