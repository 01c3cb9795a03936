"""Checks on SQL compiled for BigQuery that need no connection: sqlglot parse, portability rules
for the PostgreSQL/DuckDB-isms that parsers let through, and BigQuery type names.

Each check returns `Problem`s (line, rule, message); bigquery_check attaches file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ParseError, TokenError


@dataclass(frozen=True)
class Problem:
    line: int | None
    rule: str
    message: str


# --- masking: blank out comments and literals so rules only see code --------------------------


@dataclass(frozen=True)
class MaskedSql:
    # Same length and line breaks as the input; comments and string/identifier contents blanked
    # (quote characters kept, so a rule can still see "a string literal starts here").
    code: str
    # Offsets of every double-quoted token: a string in BigQuery, an identifier everywhere else.
    double_quoted: tuple[int, ...]


# r'..', b'..', rb'..' prefixes; raw strings have no backslash escapes.
_STRING_PREFIX = re.compile(r"(?<!\w)[rRbB]{1,2}$")


def mask_sql(sql: str) -> MaskedSql:
    """Lex just enough BigQuery (comments `--` `#` `/* */`; quotes ' " ''' \"\"\" `) to mask."""
    out = list(sql)
    double_quoted: list[int] = []
    i, n = 0, len(sql)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        ch = sql[i]
        if sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            end = n if end == -1 else end
            blank(i, end)
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            blank(i, end)
            i = end
        elif ch in "'\"`":
            quote = sql[i : i + 3] if ch != "`" and sql.startswith(ch * 3, i) else ch
            prefix = _STRING_PREFIX.search(sql[max(0, i - 3) : i])
            raw = prefix is not None and "r" in prefix.group().lower()
            j = i + len(quote)
            while j < n and not sql.startswith(quote, j):
                j += 2 if sql[j] == "\\" and not raw else 1
            end = min(n, j + len(quote))
            if ch == '"':
                double_quoted.append(i)
            blank(i + len(quote), end - len(quote))
            i = end
        else:
            i += 1
    return MaskedSql("".join(out), tuple(double_quoted))


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# --- portability rules -------------------------------------------------------------------------

# (rule, pattern on masked code, message). Patterns see quote characters but no literal text.
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (rule, re.compile(pattern, re.IGNORECASE), message)
    for rule, pattern, message in (
        ("pg-cast", r"::", "`::` cast is PostgreSQL/DuckDB only; use cast(x as type)"),
        ("ilike", r"\bilike\b", "ILIKE does not exist in BigQuery; use lower(x) like lower(y)"),
        (
            "distinct-on",
            r"\bdistinct\s+on\s*\(",
            "DISTINCT ON does not exist in BigQuery; use row_number() (macro) or QUALIFY",
        ),
        (
            "date-trunc-argument-order",
            r"\b(?:date|datetime|timestamp)_trunc\s*\(\s*['\"]",
            "date_trunc('part', x) is PostgreSQL order; BigQuery is date_trunc(x, part) "
            "(use dbt.date_trunc)",
        ),
        (
            "interval-literal",
            r"\binterval\s*['\"]",
            "interval '1 day' is PostgreSQL; BigQuery needs interval 1 day (use dbt.dateadd)",
        ),
        (
            "pg-type",
            r"\bas\s+(?:text|varchar|character\s+varying|char|timestamptz|jsonb|uuid"
            r"|double\s+precision|real|int[248]|float[48]|bytea|blob|hugeint|serial|bigserial"
            r"|timestamp\s+with(?:out)?\s+time\s+zone)\s*[()]",
            "type name unknown to BigQuery in a cast (use dbt.type_string() and friends)",
        ),
        (
            "pg-function",
            r"\b(?:now|date_part|to_char|age|generate_series|strftime|datediff"
            r"|dateadd|try_cast|regexp_matches|split_part|string_to_array|epoch)\s*\(",
            "function does not exist in BigQuery; use a cross-database dbt macro or a dispatch",
        ),
    )
)


def _snippet(sql: str, start: int, end: int) -> str:
    """The offending text and a little context, on one line, for the report."""
    text = sql[max(0, start - 10) : end + 20].splitlines()
    return " ".join(part.strip() for part in text)[:80]


def portability_problems(sql: str) -> list[Problem]:
    masked = mask_sql(sql)
    problems = [
        Problem(
            line_of(sql, match.start()),
            rule,
            f"{message}: `{_snippet(sql, match.start(), match.end())}`",
        )
        for rule, pattern, message in _RULES
        for match in pattern.finditer(masked.code)
    ]
    problems.extend(
        Problem(
            line_of(sql, offset),
            "double-quoted-identifier",
            "double quotes make a string literal in BigQuery, not an identifier; quote with "
            f"adapter.quote() (backticks) or not at all: `{_snippet(sql, offset, offset + 40)}`",
        )
        for offset in masked.double_quoted
    )
    return sorted(problems, key=lambda p: (p.line or 0, p.rule))


# --- sqlglot -----------------------------------------------------------------------------------


_TOKEN_REPR = re.compile(r"<Token token_type: [^,]+, text: (.*?), line: .*?>")


def sqlglot_problems(sql: str) -> list[Problem]:
    """Parse as BigQuery; report the first error sqlglot gives (later ones are usually echoes)."""
    try:
        sqlglot.parse(sql, read="bigquery")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        message = str(first.get("description") or exc).splitlines()[0]
        message = _TOKEN_REPR.sub(r"'\1'", message)  # sqlglot prints whole Token objects
        return [Problem(first.get("line"), "sqlglot-parse", message)]
    except TokenError as exc:
        return [Problem(None, "sqlglot-tokenize", str(exc).splitlines()[0])]
    return []


# --- type names --------------------------------------------------------------------------------

# GoogleSQL names and aliases accepted in DDL and CAST (contracts are checked with CAST).
# fmt: off
_SQL_TYPES = frozenset({
    "STRING", "BYTES", "INT64", "INT", "SMALLINT", "INTEGER", "BIGINT", "TINYINT", "BYTEINT",
    "NUMERIC", "DECIMAL", "BIGNUMERIC", "BIGDECIMAL", "FLOAT64", "BOOL", "BOOLEAN", "DATE",
    "DATETIME", "TIME", "TIMESTAMP", "JSON", "GEOGRAPHY", "INTERVAL",
})
# fmt: on
_PARAMETERIZED = re.compile(
    r"^(?:(?:STRING|BYTES)\(\s*\d+\s*\)|(?:BIG)?(?:NUMERIC|DECIMAL)\(\s*\d+\s*(?:,\s*\d+\s*)?\))$"
)
_COMPOUND = re.compile(r"^(?:ARRAY|STRUCT|RANGE)\s*<.*>$", re.DOTALL)
# dbt-bigquery's contract aliases (BigQueryColumn.TYPE_LABELS): translated before use.
_CONTRACT_ALIASES = {"TEXT": "STRING", "FLOAT": "FLOAT64", "INTEGER": "INT64"}
# Seeds: dbt-bigquery hands column_types straight to the load API's SchemaField, which knows
# only these names (google.cloud.bigquery.schema.LEGACY_TO_STANDARD_TYPES) and no parameters.
# fmt: off
_LOAD_API_TYPES = frozenset({
    "STRING", "BYTES", "INTEGER", "INT64", "FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC",
    "BOOLEAN", "BOOL", "GEOGRAPHY", "RECORD", "STRUCT", "TIMESTAMP", "DATE", "TIME", "DATETIME",
    "JSON",
})
# fmt: on


def is_bigquery_sql_type(data_type: str, contract: bool = False) -> bool:
    name = " ".join(data_type.strip().upper().split())
    if contract and name in _CONTRACT_ALIASES:
        return True
    return name in _SQL_TYPES or bool(_PARAMETERIZED.match(name) or _COMPOUND.match(name))


def is_bigquery_seed_type(data_type: str) -> bool:
    return data_type.strip().upper() in _LOAD_API_TYPES


# For messages: the load-API name a PostgreSQL/DuckDB type becomes on BigQuery.
_SEED_SUGGESTIONS = (
    (re.compile(r"^(big|small|tiny)?int(eger|\d)?$"), "int64"),
    (re.compile(r"^(numeric|decimal)\s*\("), "numeric"),
    (re.compile(r"^(text|varchar|character varying|char|string)\b"), "string"),
    (re.compile(r"^(double precision|real|float\d?)$"), "float64"),
    (re.compile(r"^bool(ean)?$"), "bool"),
    (re.compile(r"^timestamp(tz| with time zone)?$"), "timestamp"),
)


def suggest_seed_type(data_type: str) -> str | None:
    name = " ".join(data_type.strip().lower().split())
    return next((bq for pattern, bq in _SEED_SUGGESTIONS if pattern.match(name)), None)
