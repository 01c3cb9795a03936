"""The reference platform: a simulated multi-tenant application (three regional instances).

It is the demo source and the test oracle: `generator` writes history, `simulator` moves it
forward tick by tick (including the ugly cases), `truth` computes every metric independently.
"""
