"""A peer of `warehouse bench --parts loads`: the minimal connectorx -> DuckDB script, the
practical floor for loading a table with Python. Full load: one query into Arrow, `create table
as`. Incremental: rows past the newest cursor value loaded, deleted by key and inserted in one
transaction. No partitioning, no schema handling, no state but the table itself. Run as a script
(`python bench_peer_connectorx.py --help`); it imports nothing from this project."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_peer_connectorx.py", description="connectorx -> DuckDB (incremental, merge)"
    )
    parser.add_argument("--url", required=True, help="postgresql:// URL of the source database")
    parser.add_argument("--table", required=True)
    parser.add_argument("--columns", required=True, help="comma-separated columns to read")
    parser.add_argument("--primary-key", required=True)
    parser.add_argument("--cursor", required=True, help="incremental cursor column")
    parser.add_argument("--duckdb", required=True, help="DuckDB file to load into")
    parser.add_argument("--schema", default="raw")
    args = parser.parse_args(argv)

    import connectorx
    import duckdb

    columns = ", ".join(f'"{c}"' for c in args.columns.split(","))
    target = f'"{args.schema}"."{args.table}"'
    con = duckdb.connect(args.duckdb)
    con.execute(f'create schema if not exists "{args.schema}"')
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [args.schema, args.table],
    ).fetchone()[0]
    query = f'select {columns} from "{args.table}"'
    if exists:
        newest = con.execute(f'select max("{args.cursor}") from {target}').fetchone()[0]
        if newest is not None:
            query += f""" where "{args.cursor}" > '{newest.isoformat()}'"""
    data = connectorx.read_sql(args.url, query, return_type="arrow")  # scanned by name below
    if not exists:
        con.execute(f"create table {target} as select * from data")
    else:
        key = f'"{args.primary_key}"'
        con.execute("begin")
        con.execute(f"delete from {target} where {key} in (select {key} from data)")
        con.execute(f"insert into {target} select * from data")
        con.execute("commit")
    con.close()
    print(f"{data.num_rows} rows loaded into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
