//! The integration tests that can share a process, as modules of one test binary: one link
//! instead of one per file, and one copy of `common`. Tests that need a process of their own
//! (a global subscriber, a panic hook, their own `main`, a feature set of their own) are the
//! other files under `tests/`; `tests/README.md` says which and why.
//!
//! A test that re-runs itself as a child process names itself to `--exact` through
//! [`common::test_path`], which gives the `file::test` path the harness knows it by.

mod common;

mod actions_postgres;
mod actions_sqlite;
mod bad_dir;
mod bounded_stderr;
mod build_compose;
mod cli_bad_input;
mod cli_csv;
mod cli_escape;
mod cli_exit_status;
mod cli_pagination;
mod cli_postgres;
mod cli_postgres_tls;
mod cli_sqlite;
mod cli_stats;
mod cli_supabase;
mod cli_tail_follow;
mod cli_width;
mod clock_steps;
mod commit_then_cut;
mod compress_crash;
mod compress_roundtrip;
mod concurrency;
mod config_failure;
mod console_format;
mod dashboard_rollups;
mod dead_letter_bound;
mod disk_full;
mod exit_flush;
mod failure_rule;
mod fifo_day_file;
mod file_handoff;
mod file_stall;
mod four_processes;
mod jobs_postgres;
mod jobs_sqlite;
mod json_file;
mod line_separators;
mod log_dir_readers;
mod message_fallback;
mod multi_store;
mod otlp_env;
mod otlp_faults;
mod otlp_lines;
mod otlp_mapping;
mod outage_midstream;
mod postgres_tls;
mod readonly_dir;
mod redaction;
mod redaction_layers;
mod redaction_urls;
mod rejected_alarm;
mod request_context;
mod rolling_writer;
mod rollover;
mod schema_drift;
mod shared_log_dir;
mod sigkill;
mod sigterm;
mod sigterm_init_only;
mod sink_contract;
mod sink_panic;
mod size_cap;
mod small_disk;
mod span_close_lines;
mod spool_bound;
mod spool_hostile;
mod spool_owner;
mod sqlite_lock;
mod sqlite_statement_timeout;
mod stats_rollups;
mod store_choice;
mod supabase;
mod tokio_apps;
mod total_retention;
mod trace_context;
mod trace_otel;
mod trace_rows;
mod trace_store;
mod tracker;
mod two_processes;
mod web_browser;
mod web_limits;
mod web_postgres;
mod web_prefix;
mod web_router;
