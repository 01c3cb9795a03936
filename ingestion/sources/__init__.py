"""Sources that are not an application database: a folder of spreadsheets, a REST API.

Each kind is declared as an instance in tables.yml (`kind: spreadsheets` / `kind: rest_api`,
validated by ingestion/sources/config.py) and becomes one dlt resource per (instance, table)
writing the same raw rows, run records, privacy policy and tenant key as the database readers.
"""
