"""ai-usage-pipeline."""
