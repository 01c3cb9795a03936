"""Sample platforms: realistic subsets of real multi-tenant platforms' databases (Open Food
Network, Glific), a deterministic generator of activity for each, and an independent oracle.

Demo and test side only, like `reference_platform`: product code never imports this package.
"""
