"""GitHub Copilot: usage-metrics reports, seats, AI-credit billing and GitHub identities."""
