"""A run's files and their readers (RunDir, hashes, schema, thresholds) and choosing runs."""

from fashion_core.runs.choose import default_run, finished_runs, validation_score
from fashion_core.runs.files import (
    FINISHED,
    STATES,
    RunDir,
    RunRecord,
    get_run,
    has_model,
    list_runs,
    new_run_id,
    read_json,
    record_run_files,
    register_run,
    runs_using_map,
    runs_with_model,
    sha256_file,
    update_run,
    verified_model_path,
    verified_serving_path,
    write_json_atomic,
)
from fashion_core.runs.readers import (
    check_thresholds,
    read_int8_comparison,
    read_schema,
    read_thresholds,
    write_thresholds,
)

__all__ = [
    "FINISHED", "STATES", "RunDir", "RunRecord", "check_thresholds", "default_run", "finished_runs", "get_run",
    "has_model", "list_runs", "new_run_id", "read_int8_comparison", "read_json", "read_schema", "read_thresholds",
    "record_run_files", "register_run", "runs_using_map", "runs_with_model", "sha256_file", "update_run",
    "validation_score", "verified_model_path", "verified_serving_path", "write_json_atomic", "write_thresholds",
]
