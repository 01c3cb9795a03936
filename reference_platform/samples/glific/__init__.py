"""Glific (NGO chatbots): schema subset, activity generator, oracle."""
