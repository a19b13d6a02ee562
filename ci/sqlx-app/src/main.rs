//! Records one action through actionlog's default SQLite store, then reads it back with sqlx's
//! own SQLite driver: the two share the program's one SQLite library. Exits non-zero when the
//! row is not there.

use std::path::Path;
use std::process::ExitCode;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

const ACTION: &str = "sqlx_app_check";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("actionlog-sqlx-app-{}", std::process::id()));
    let outcome = check(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqlx-app: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn check(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let guard = actionlog::builder().log_dir(dir).console(false).init()?;
    tracing::info!(
        action_type = ACTION,
        user_id = "ci",
        "one action from an app that has sqlx"
    );
    // Dropping the guard delivers what is queued, within the flush deadline.
    drop(guard);

    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join("actions.db"))
        .read_only(true)
        .connect()
        .await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut conn)
        .await?;
    let row = sqlx::query("SELECT status, user_id FROM action_logs WHERE action_type = ?")
        .bind(ACTION)
        .fetch_optional(&mut conn)
        .await?
        .ok_or("the action's row is not in actions.db")?;
    let (status, user): (String, String) = (row.try_get("status")?, row.try_get("user_id")?);
    if (status.as_str(), user.as_str()) != ("completed", "ci") {
        return Err(format!("unexpected row: status {status}, user {user}").into());
    }
    println!("sqlx-app: action read back through sqlx (SQLite {version}): status {status}");
    Ok(())
}
