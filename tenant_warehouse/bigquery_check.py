"""Offline BigQuery check: compile the project for BigQuery and prove the SQL would run there.

No BigQuery (or emulator) is reachable, so this gets as close as it can without one:

1. `dbt compile --target bigquery --no-populate-cache --no-introspect` twice, with
   var force_incremental false (full-refresh branches) and true (incremental branches; only
   incremental models). The service-account key is generated here, in a temporary directory, and
   deleted afterwards. It must be a real RSA key: dbt-bigquery builds credentials when it opens
   its connection and a key that does not deserialize fails the compile. Such a key makes any
   BigQuery call retry for minutes instead of failing (its token endpoint is a closed loopback
   port, so nothing ever leaves the machine), hence --no-populate-cache, --no-introspect and a
   timeout. The compile runs in a worker process (bigquery_compile): one dbt import, one parse.
2. Every compiled model, snapshot, analysis, singular test and project-defined generic test is
   parsed with sqlglot (read="bigquery"), linted for parse errors with sqlfluff (dialect
   bigquery, raw templater) and searched for PostgreSQL/DuckDB syntax both parsers let through.
3. Contract data types and seed column types must be BigQuery type names.
4. The tenants' row access policies compiled from tenants.yml cover every published mart table
   for every declared tenant, plus the writer's TRUE policy (tenants/bigquery_access.py).

The project is compiled with one platform profile (TW_PLATFORM / `warehouse --platform NAME`,
or `platform=`): its staging and contract models join the product's, and the marts its entities
do not allow are disabled; `--platform` may be given several times to check each profile.
Compiled files stay under $TW_HOME/bigquery_check/ (another profile than the settings':
bigquery_check_<platform>/) so findings can be looked at.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenant_warehouse.bigquery_compile import FULL, INCREMENTAL
from tenant_warehouse.bigquery_rules import (
    Problem,
    is_bigquery_seed_type,
    is_bigquery_sql_type,
    portability_problems,
    sqlglot_problems,
    suggest_seed_type,
)
from tenant_warehouse.settings import PLATFORM_ENV, PLATFORMS_DIR, PROJECT_DIR, Settings

OFFLINE_PROJECT = "tw-offline-check"
# A healthy offline compile takes well under a minute; a run that reaches for BigQuery anyway
# does not fail, it retries for many minutes (measured: plain `dbt compile` with this key).
DBT_TIMEOUT_SECONDS = 300
SQLFLUFF_TIMEOUT_SECONDS = 600
CHECKED_TYPES = ("model", "snapshot", "analysis", "test")
# Parse-level sqlfluff codes; style rules belong to `warehouse lint-sql`, not here.
SQLFLUFF_PARSE_CODES = ("PRS", "LXR", "TMP")


@dataclass(frozen=True, order=True)
class Finding:
    path: str  # project-relative file the problem comes from (a .sql, or a .yml / dbt_project.yml)
    line: int | None  # line in `compiled_path` when there is one, else None
    rule: str
    message: str
    compiled_path: str | None = None
    variant: str | None = None  # FULL or INCREMENTAL for compiled SQL

    def __str__(self) -> str:
        where = ""
        if self.variant:
            where = f" ({self.variant} compile" + (f", line {self.line})" if self.line else ")")
        return f"{self.path}: [{self.rule}] {self.message}{where}"


@dataclass
class CheckedFile:
    node_path: str  # source file
    compiled: Path
    variant: str


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    checked: list[CheckedFile] = field(default_factory=list)
    # Source paths of the incremental models (each must be checked in both variants).
    incremental_models: list[str] = field(default_factory=list)
    work_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


# --- throwaway credentials and profile ---------------------------------------------------------


def write_throwaway_key(directory: Path) -> Path:
    """A service-account key file that parses but can never authenticate anywhere."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key = {
        "type": "service_account",
        "project_id": OFFLINE_PROJECT,
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": f"offline@{OFFLINE_PROJECT}.iam.gserviceaccount.com",
        "client_id": "0" * 21,
        # Port 9 (discard) on loopback: refused immediately if anything tries to get a token.
        "auth_uri": "http://127.0.0.1:9/auth",
        "token_uri": "http://127.0.0.1:9/token",
    }
    path = directory / "throwaway-service-account.json"
    path.write_text(json.dumps(key))
    path.chmod(0o600)
    return path


def offline_env(project_dir: Path, scratch: Path, key_file: Path) -> dict[str, str]:
    profiles_dir = scratch / "profiles"
    profiles_dir.mkdir(exist_ok=True)
    example = project_dir / "profiles.yml.example"
    if not example.exists():  # a bare copy of the project: use the checkout's profile
        example = PROJECT_DIR / "profiles.yml.example"
    shutil.copyfile(example, profiles_dir / "profiles.yml")
    env = {
        k: v
        for k, v in os.environ.items()
        # Real Google credentials must never be picked up: this check is offline by design.
        if not k.startswith(("TW_BQ_", "GOOGLE_", "DBT_")) and k != "CLOUDSDK_CONFIG"
    }
    env.update(
        TW_TARGET="bigquery",
        TW_BQ_METHOD="service-account",
        TW_BQ_KEYFILE=str(key_file),
        TW_BQ_PROJECT=OFFLINE_PROJECT,
        DBT_PROFILES_DIR=str(profiles_dir),
        DBT_LOG_PATH=str(scratch / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
        NO_GCE_CHECK="True",  # google-auth: do not probe the GCE metadata server
    )
    return env


# --- compiling ---------------------------------------------------------------------------------


def compile_variants(
    project_dir: Path, env: dict[str, str], work_dir: Path
) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """Manifests by variant (FULL always when it compiled; INCREMENTAL when the project has any
    incremental model), and a finding for every compile failure."""
    command = [
        sys.executable,
        "-m",
        "tenant_warehouse.bigquery_compile",
        str(project_dir),
        str(work_dir),
    ]
    try:
        done = subprocess.run(
            command, cwd=project_dir, env=env, capture_output=True, text=True,
            timeout=DBT_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        message = (
            f"dbt did not finish in {DBT_TIMEOUT_SECONDS}s: something is trying to reach BigQuery"
        )
        return {}, [Finding("dbt_project.yml", None, "dbt-compile", message)]
    status_file = work_dir / "compile_status.json"
    if not status_file.exists():
        output = (done.stdout + done.stderr).strip()[-3000:]
        return {}, [Finding("dbt_project.yml", None, "dbt-compile", f"dbt crashed:\n{output}")]
    manifests: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    for variant, status in json.loads(status_file.read_text()).items():
        if status is None:
            continue
        if status["ok"]:
            manifest_file = work_dir / f"target_{variant}" / "manifest.json"
            manifests[variant] = json.loads(manifest_file.read_text())
            continue
        for error in status["errors"] or ["failed without a message (see dbt.log)"]:
            findings.append(Finding(
                error.split(":", 1)[0] if error.split(":", 1)[0].endswith(".sql") else "dbt_project.yml",
                None, "dbt-compile", f"dbt compile --target bigquery ({variant}): {_explain(error)}",
            ))  # fmt: skip
    return manifests, findings


def _explain(error: str) -> str:
    """dbt's error, plus a hint for the errors that only mean 'this needs a live warehouse'."""
    if "connection never acquired" in error or "introspect" in error.lower():
        error += (
            "\n    hint: a model asks the warehouse something at compile time (run_query, "
            "adapter.get_relation, dbt.is_incremental()...). Incremental models must use plain "
            "is_incremental(), which macros/is_incremental.sql lets var force_incremental decide."
        )
    return error


# --- what to check -----------------------------------------------------------------------------


def _own_nodes(manifest: dict[str, Any]) -> Iterable[dict[str, Any]]:
    project = manifest["metadata"].get("project_name")
    for node in manifest["nodes"].values():
        if node.get("package_name") == project:
            yield node


def _is_checked(node: dict[str, Any], manifest: dict[str, Any]) -> bool:
    if node["resource_type"] not in CHECKED_TYPES or not node.get("compiled_code"):
        return False
    metadata = node.get("test_metadata")
    if node["resource_type"] == "test" and metadata:
        # Generic tests: dbt's own (not_null, unique...) are dbt-bigquery's business; ours are
        # checked through one instance each (all instances come from the same macro).
        project = manifest["metadata"].get("project_name")
        if metadata.get("namespace") or f"macro.{project}.test_{metadata['name']}" not in (
            manifest.get("macros") or {}
        ):
            return False
    return True


def _relative_name(node: dict[str, Any]) -> str:
    original = node["original_file_path"]
    if original.endswith(".sql"):
        return original
    return f"{original}/{node['name']}.sql"  # generic test defined in a .yml


def _select_checked(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    seen_generic: set[str] = set()
    for node in sorted(_own_nodes(manifest), key=lambda n: n["unique_id"]):
        if not _is_checked(node, manifest):
            continue
        metadata = node.get("test_metadata")
        if metadata:
            if metadata["name"] in seen_generic:
                continue
            seen_generic.add(metadata["name"])
        chosen.append(node)
    return chosen


def _write_compiled(
    nodes: list[dict[str, Any]], out_dir: Path, variant: str
) -> list[tuple[CheckedFile, str]]:
    written = []
    for node in nodes:
        compiled = out_dir / variant / _relative_name(node)
        compiled.parent.mkdir(parents=True, exist_ok=True)
        compiled.write_text(node["compiled_code"])
        written.append(
            (CheckedFile(node["original_file_path"], compiled, variant), node["compiled_code"])
        )
    return written


# --- checks ------------------------------------------------------------------------------------


def _finding(checked: CheckedFile, problem: Problem) -> Finding:
    return Finding(
        checked.node_path,
        problem.line,
        problem.rule,
        problem.message,
        str(checked.compiled),
        checked.variant,
    )


def sqlfluff_parse_problems(files: list[Path], scratch: Path) -> dict[Path, list[Problem]]:
    """Lint all files in one sqlfluff run; keep only lexing/parsing errors.

    The files are linted from copies in `scratch`: sqlfluff honours every .sqlfluffignore above a
    file, and the project's ignores `.warehouse/` (the default TW_HOME, where the compiled SQL
    is kept), which would make every file pass unlinted. A file missing from sqlfluff's answer is
    reported rather than passed.
    """
    if not files:
        return {}
    lint_dir = scratch / "sqlfluff"
    lint_dir.mkdir()
    copies = {lint_dir / f"{i:05d}.sql": original for i, original in enumerate(files)}
    for copy, original in copies.items():
        shutil.copyfile(original, copy)
    config = scratch / "sqlfluff.cfg"
    # large_file_skip_byte_limit=0: compiled marts are big, and a skipped file would pass silently.
    # One cheap rule: parse errors are reported whatever rules run; style is not our business.
    config.write_text(
        "[sqlfluff]\ndialect = bigquery\ntemplater = raw\nlarge_file_skip_byte_limit = 0\n"
        "rules = CP01\n"
    )
    done = subprocess.run(
        [
            sys.executable, "-m", "sqlfluff", "lint", str(lint_dir), "--ignore-local-config",
            "--config", str(config), "--format", "json", "--nofail", "--disable-progress-bar",
            "--processes", "1",
        ],
        capture_output=True, text=True, cwd=scratch, check=False, timeout=SQLFLUFF_TIMEOUT_SECONDS,
    )  # fmt: skip
    try:
        results = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"sqlfluff failed: {done.stderr.strip() or done.stdout[:2000]}"
        ) from None
    problems: dict[Path, list[Problem]] = {
        original.resolve(): [Problem(None, "sqlfluff-not-linted", "sqlfluff skipped this file")]
        for original in files
    }
    for result in results:
        copy = Path(result["filepath"])
        copy = (copy if copy.is_absolute() else scratch / copy).resolve()
        original = copies.get(lint_dir.resolve() / copy.name)
        if original is None:
            continue
        problems[original.resolve()] = [
            Problem(v.get("start_line_no"), f"sqlfluff-{v['code']}", v["description"])
            for v in result["violations"]
            if v["code"].startswith(SQLFLUFF_PARSE_CODES)
        ]
    return problems


def _type_findings(manifest: dict[str, Any]) -> list[Finding]:
    findings = []
    for node in _own_nodes(manifest):
        config = node.get("config") or {}
        if node["resource_type"] == "seed":
            for column, data_type in (config.get("column_types") or {}).items():
                if not is_bigquery_seed_type(str(data_type)):
                    bq = suggest_seed_type(str(data_type)) or "<bigquery type>"
                    findings.append(Finding(
                        node["original_file_path"], None, "seed-type",
                        f"column_types {column}: {data_type!r} is not a BigQuery load-API type "
                        "(dbt-bigquery passes seed types to the load job as they are: no "
                        "parameters, no aliases); choose on the target, e.g. "
                        f"\"{{{{ '{bq}' if target.type == 'bigquery' else '{data_type}' }}}}\"",
                    ))  # fmt: skip
        elif (config.get("contract") or {}).get("enforced"):
            for column in (node.get("columns") or {}).values():
                data_type = column.get("data_type")
                if data_type and not is_bigquery_sql_type(str(data_type), contract=True):
                    findings.append(Finding(
                        node.get("patch_path", "").split("://")[-1] or node["original_file_path"],
                        None, "contract-type",
                        f"{node['name']}.{column['name']}: data_type {data_type!r} is not a "
                        "BigQuery type; make it target-dependent",
                    ))  # fmt: skip
    return findings


def run_check(
    settings: Settings, project_dir: Path = PROJECT_DIR, platform: str | None = None
) -> CheckReport:
    """Compile and check the project with platform profile `platform` (default: the settings')."""
    project_dir = project_dir.resolve()
    platform = platform or settings.platform
    if not (project_dir / PLATFORMS_DIR.name / platform).is_dir():
        return CheckReport(findings=[Finding(
            f"{PLATFORMS_DIR.name}/{platform}", None, "platform",
            f"no platform profile {platform!r} in {project_dir}",
        )])  # fmt: skip
    suffix = "" if platform == settings.platform else f"_{platform}"
    work_dir = settings.home / f"bigquery_check{suffix}"
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    report = CheckReport(work_dir=work_dir)
    compiled: list[tuple[CheckedFile, str]] = []
    with tempfile.TemporaryDirectory(prefix="tw_bq_") as tmp:
        scratch = Path(tmp)
        env = {**offline_env(project_dir, scratch, write_throwaway_key(scratch)),
               PLATFORM_ENV: platform}
        manifests, report.findings = compile_variants(project_dir, env, work_dir)
        if FULL in manifests:
            manifest = manifests[FULL]
            compiled += _write_compiled(_select_checked(manifest), work_dir, FULL)
            report.findings += _type_findings(manifest)
            # Tenants' row access policies, compiled from tenants.yml (tenants/bigquery_access.py).
            from tenant_warehouse.tenants.bigquery_access import offline_check

            report.findings += [
                Finding(path, None, "tenant-row-access", problem)
                for path, problem in offline_check(settings, manifest, work_dir)
            ]
            report.incremental_models = sorted(
                n["original_file_path"]
                for n in _own_nodes(manifest)
                if n["resource_type"] == "model"
                and n["config"].get("materialized") == "incremental"
            )
        if INCREMENTAL in manifests:
            incremental = _select_checked(manifests[INCREMENTAL])
            incremental = [
                n for n in incremental if n["config"].get("materialized") == "incremental"
            ]
            compiled += _write_compiled(incremental, work_dir, INCREMENTAL)
        fluff = sqlfluff_parse_problems([c.compiled for c, _ in compiled], scratch)
    for checked, sql in compiled:
        report.checked.append(checked)
        problems = [
            *sqlglot_problems(sql),
            *fluff.get(checked.compiled.resolve(), []),
            *portability_problems(sql),
        ]
        report.findings += [_finding(checked, p) for p in problems]
    report.findings = sorted(
        set(report.findings), key=lambda f: (f.path, f.variant or "", f.line or 0, f.rule)
    )
    return report


def check_bigquery(settings: Settings, project_dir: Path = PROJECT_DIR) -> list[Finding]:
    """Every reason the project would not run on BigQuery that can be found offline."""
    return run_check(settings, project_dir).findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="warehouse check-bigquery",
        description="Compile the dbt project for BigQuery offline and check the SQL.",
    )
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--platform", action="append", metavar="NAME",
                        help="platform profile to compile with (repeatable; default TW_PLATFORM "
                             "or reference)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    failed = False
    for platform in args.platform or [settings.platform]:
        report = run_check(settings, args.project_dir, platform)
        for finding in report.findings:
            print(finding)
        variants: dict[str, int] = {}
        for checked in report.checked:
            variants[checked.variant] = variants.get(checked.variant, 0) + 1
        summary = ", ".join(f"{n} {variant}" for variant, n in sorted(variants.items())) or "nothing"
        verdict = "OK" if report.ok else f"{len(report.findings)} finding(s)"
        print(
            f"BigQuery offline check ({platform}): {verdict}; compiled SQL files checked: "
            f"{summary} (kept in {report.work_dir})"
        )
        failed = failed or not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
