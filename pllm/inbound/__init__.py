"""Client-facing formats other than OpenAI's: requests in, answers out (pure translators)."""
