//! A prune recorded in the audit trail ([`crate::audit`]): before the first deletion, a signed
//! prune digest naming the cutoffs and, for each writer, the last digest to be deleted with
//! the rows it covered (the first one kept names it as its previous), so `actionlog verify`
//! stays clean after the prune. The digest goes through the sink of the store, like any other,
//! and to the digest file of this machine.

use std::path::Path;

use super::{Error, Plan, Prune};
use crate::audit::{Audit, Pruned};
use crate::query::{Store, Target};
use crate::sink::Sink;

/// Records `plan` in the store's trail and adds to it the digests to delete; a store that
/// keeps no digests needs no record. Without `audit`, a store that keeps digests is refused
/// unless `unsigned`.
pub(super) async fn record(
    prune: &Prune,
    plan: &mut Plan,
    audit: Option<&Audit>,
    digest_dir: &Path,
    unsigned: bool,
) -> Result<(), Error> {
    let store = Store::open(&prune.target, &prune.opts).await?;
    let lines = store.digests(None).await?.unwrap_or_default();
    if lines.is_empty() {
        return Ok(());
    }
    let Some(audit) = audit else {
        if unsigned {
            return Ok(());
        }
        return Err(Error::Unsigned {
            target: store.target(),
        });
    };
    // Per writer, the newest digest made before both cutoffs: it and those before it covered
    // only rows the prune deletes.
    let cutoff = plan.actions_before.min(plan.runs_before);
    let public = audit.key.public();
    let mut anchors: Vec<(String, u64, crate::audit::Hash)> = Vec::new();
    for line in &lines {
        let Ok(read) = crate::audit::read_line(line, &public) else {
            continue;
        };
        let d = &read.digest;
        if d.made_at >= cutoff {
            continue;
        }
        match anchors.iter_mut().find(|(w, _, _)| *w == d.writer) {
            Some(a) if a.1 < d.seq => *a = (d.writer.clone(), d.seq, read.hash),
            Some(_) => {}
            None => anchors.push((d.writer.clone(), d.seq, read.hash)),
        }
    }
    let mut chain = audit
        .chain(digest_dir.to_path_buf())
        .map_err(|e| Error::Record {
            target: store.target(),
            why: format!("the digest directory {}: {e}", digest_dir.display()),
        })?;
    chain.record_prune(Pruned {
        actions_before: Some(plan.actions_before),
        runs_before: Some(plan.runs_before),
        run_logs_before: plan.run_logs_before,
        anchors: anchors.clone(),
    });
    let mut sink = sink_for(&prune.target).map_err(|why| Error::Record {
        target: store.target(),
        why,
    })?;
    if !sink.keep_digests(chain) {
        return Err(Error::Record {
            target: store.target(),
            why: "its sink keeps no digests".into(),
        });
    }
    sink.tick().await.map_err(|e| Error::Record {
        target: store.target(),
        why: e.to_string(),
    })?;
    plan.digests_up_to = anchors
        .into_iter()
        .map(|(w, s, _)| (w, i64::try_from(s).unwrap_or(i64::MAX)))
        .collect();
    Ok(())
}

/// The sink writing to `target`, the store verification reads.
fn sink_for(target: &Target) -> Result<Box<dyn Sink>, String> {
    match target {
        #[cfg(feature = "sqlite")]
        Target::Sqlite(path) => crate::sink::SqliteSink::open(path)
            .map(|s| Box::new(s) as Box<dyn Sink>)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "postgres")]
        Target::Postgres(url) => crate::sink::PostgresSink::new(url)
            .map(|s| Box::new(s) as Box<dyn Sink>)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "supabase")]
        Target::Supabase { url, key } => crate::sink::SupabaseSink::new(url, key)
            .map(|s| Box::new(s) as Box<dyn Sink>)
            .map_err(|e| e.to_string()),
        #[allow(unreachable_patterns)]
        _ => Err("no sink for this store is built".into()),
    }
}
