"""A peer of `warehouse bench --parts loads`: dlt's own `sql_table` resource loading one table
into DuckDB, incrementally on a cursor column and merged on the primary key: what a dlt user
writes. Run as a script (`python bench_peer_dlt.py --help`) so its process start is its own;
it imports nothing from this project."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_peer_dlt.py", description="dlt sql_table -> DuckDB (incremental, merge)"
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the source database")
    parser.add_argument("--table", required=True)
    parser.add_argument("--columns", required=True, help="comma-separated columns to read")
    parser.add_argument("--primary-key", required=True)
    parser.add_argument("--cursor", required=True, help="incremental cursor column")
    parser.add_argument("--backend", choices=("connectorx", "pyarrow", "sqlalchemy", "pandas"),
                        required=True)
    parser.add_argument("--duckdb", required=True, help="DuckDB file to load into")
    parser.add_argument("--pipelines-dir", required=True, help="dlt's state and working files")
    parser.add_argument("--dataset", default="raw")
    args = parser.parse_args(argv)

    import dlt
    from dlt.sources.sql_database import sql_table

    resource = sql_table(
        credentials=args.url, table=args.table, backend=args.backend,
        included_columns=args.columns.split(","), incremental=dlt.sources.incremental(args.cursor),
    )
    resource.apply_hints(primary_key=args.primary_key, write_disposition="merge")
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_peer_{args.backend}", destination=dlt.destinations.duckdb(args.duckdb),
        dataset_name=args.dataset, pipelines_dir=args.pipelines_dir,
    )
    info = pipeline.run(resource)
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
