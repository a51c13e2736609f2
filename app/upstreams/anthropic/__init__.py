"""The Anthropic Admin API, the Compliance feed and Enterprise Analytics into
`fact_claude_daily_usage`."""
