"""Open Food Network (food hubs): schema subset, activity generator, oracle."""
