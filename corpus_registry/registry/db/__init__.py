"""The registry database: models, connection and migrations."""
