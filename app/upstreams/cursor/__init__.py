"""The Cursor Admin API: daily usage and usage events into `fact_cursor_daily_usage`."""
