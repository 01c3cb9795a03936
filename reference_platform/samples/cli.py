"""Command line of a sample platform generator: `generate` and `step`, one database per instance.

Databases are named by a URL template with `{instance}`; bad input ends with one line on stderr
and exit code 2, a database that cannot be reached with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg2

from reference_platform.samples.runner import GeneratorError, Platform, generate, step

DEFAULT_TEMPLATE = "postgresql+psycopg2://postgres@127.0.0.1:5432/{platform}_{instance}"


def main(platform: Platform, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m reference_platform.samples.{platform.name}.generator",
        description=f"Generate and advance the sample {platform.name} platform "
                    "(PostgreSQL, one database per instance).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("generate", "create each instance database with its history "
                                    "(2026-01-01 to 2026-03-03 UTC)"),
                       ("step", "move each generated instance forward in time")):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--url-template", default=DEFAULT_TEMPLATE,
            help="SQLAlchemy URL with {instance} (and optionally {platform}); "
                 f"default {DEFAULT_TEMPLATE}")
        command.add_argument(
            "--instances", default=",".join(platform.instances),
            help=f"comma-separated instance ids (default: all of {','.join(platform.instances)})")
        if name == "generate":
            command.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
            command.add_argument("--scale", type=float, default=1.0,
                                 help="volume factor; 1.0 is a few thousand orders or messages "
                                      "per instance (default 1.0)")
        else:
            command.add_argument("--minutes", type=float, default=60,
                                 help="simulated minutes to add (default 60)")
    args = parser.parse_args(argv)
    instances = [i.strip() for i in args.instances.split(",") if i.strip()]
    try:
        for instance in instances:
            url = args.url_template.format(instance=instance, platform=platform.name)
            if args.command == "generate":
                report = generate(platform, url, instance, seed=args.seed, scale=args.scale)
            else:
                report = step(platform, url, instance, minutes=args.minutes)
            print(report.summary())
    except (GeneratorError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: cannot reach the database: {first}", file=sys.stderr)
        return 1
    return 0
