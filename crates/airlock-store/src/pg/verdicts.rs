//! Artifacts, runs with their gzip trace, and verdicts per ruleset in PostgreSQL: the same
//! queries and transaction boundaries as the SQLite store's `verdicts.rs`.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use airlock_events::Ecosystem;
use tokio_postgres::Row;

use super::{codec_err, get, pg, PgStore};
use crate::codec;
use crate::model::{
    ArtifactKey, ArtifactQuery, CachedVerdict, Detail, Filter, GcStats, RejudgeItem, RunId,
    RunRecord, RunSummary, Stats, Summary, VerdictRecord, VerdictSummary,
};
use crate::verdicts::{decode_artifact, parse_verdict};
use crate::{now_ms, StoreError};

const LOOKUP_SQL: &str = "
SELECT v.ruleset_hash, v.verdict, v.score, v.created_at,
       r.id, r.run_id, r.started_at, r.complete, a.sha256, a.integrity,
       ($5::text IS NOT NULL AND v.ruleset_hash = $5::text) AS matches
FROM artifacts a
JOIN runs r ON r.artifact_id = a.id
JOIN verdicts v ON v.run_id = r.id
WHERE a.ecosystem = $1 AND a.name = $2 AND a.version = $3
  AND ($4::text IS NULL OR a.sha256 = $4::text OR a.integrity = $4::text)
ORDER BY matches DESC, v.created_at DESC, r.started_at DESC, v.id DESC
LIMIT 1";

const FILTERED_SQL: &str = "
WITH lv AS (
    SELECT r.artifact_id, v.verdict, v.score, v.ruleset_hash, v.created_at,
           ROW_NUMBER() OVER (PARTITION BY r.artifact_id
                              ORDER BY v.created_at DESC, r.started_at DESC, v.id DESC) AS rn
    FROM verdicts v JOIN runs r ON r.id = v.run_id
)
SELECT a.id, a.ecosystem, a.name, a.version, a.sha256, a.integrity,
       lv.verdict, lv.score, lv.ruleset_hash, lv.created_at
FROM artifacts a
LEFT JOIN lv ON lv.artifact_id = a.id AND lv.rn = 1
WHERE ($1::text IS NULL OR a.ecosystem = $1::text) AND ($2::text IS NULL OR a.name = $2::text)
  AND ($3::text IS NULL OR a.version = $3::text) AND ($4::text IS NULL OR lv.verdict = $4::text)";

fn lookup_row(loc: &str, r: &Row) -> Result<CachedVerdict, StoreError> {
    let run: i64 = r.get(4);
    let verdict: String = r.get(1);
    let sha: String = r.get(8);
    Ok(CachedVerdict {
        run: RunId(run),
        run_id: r.get(5),
        verdict: parse_verdict(Path::new(loc), "verdicts", run, &verdict)?,
        score: r.get(2),
        ruleset_hash: r.get(0),
        ruleset_matches: r.get(10),
        judged_at_ms: r.get(3),
        run_started_at: r.get(6),
        run_complete: r.get(7),
        sha256: Some(sha).filter(|s| !s.is_empty()),
        integrity: r.get(9),
    })
}

async fn lookup_in(
    c: &impl deadpool_postgres::GenericClient,
    loc: &str,
    eco: &str,
    name: &str,
    version: &str,
    hash: Option<&str>,
    ruleset_hash: Option<&str>,
) -> Result<Option<CachedVerdict>, StoreError> {
    let row = c
        .query_opt(LOOKUP_SQL, &[&eco, &name, &version, &hash, &ruleset_hash])
        .await
        .map_err(pg(loc))?;
    row.map(|r| lookup_row(loc, &r)).transpose()
}

fn artifact_at(loc: &str, r: &Row, id: i64, at: usize) -> Result<ArtifactKey, StoreError> {
    decode_artifact(
        Path::new(loc),
        id,
        (
            r.get(at),
            r.get(at + 1),
            r.get(at + 2),
            r.get(at + 3),
            r.get(at + 4),
        ),
    )
}

fn filter_params(f: &Filter) -> [Option<String>; 4] {
    [
        f.ecosystem.map(|e| e.to_string()),
        f.name.clone(),
        f.version.clone(),
        f.verdict.map(|v| v.as_str().to_string()),
    ]
}

async fn insert_verdict(
    c: &impl deadpool_postgres::GenericClient,
    loc: &str,
    run: RunId,
    ruleset_hash: &str,
    verdict: &str,
    score: f64,
    report: &[u8],
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO verdicts (run_id, ruleset_hash, verdict, score, created_at, report_codec, report)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (run_id, ruleset_hash) DO UPDATE SET
             verdict = excluded.verdict, score = excluded.score, created_at = excluded.created_at,
             report_codec = excluded.report_codec, report = excluded.report",
        &[&run.0, &ruleset_hash, &verdict, &score, &now_ms(), &codec::GZIP, &report],
    )
    .await
    .map_err(pg(loc))?;
    Ok(())
}

impl PgStore {
    pub(super) fn record_run(
        &self,
        artifact: &ArtifactKey,
        run: &RunRecord<'_>,
        verdict: &VerdictRecord<'_>,
    ) -> Result<RunId, StoreError> {
        let (pool, loc) = self.ctx();
        let owner = format!("run {}", run.run_id);
        let trace = codec::compress(run.trace_jsonl).map_err(codec_err(
            &loc,
            "compress",
            "trace",
            owner.clone(),
        ))?;
        let report = codec::compress(verdict.report_json)
            .map_err(codec_err(&loc, "compress", "report", owner))?;
        let artifact = artifact.clone();
        let run_id = run.run_id.to_string();
        let (started_at, duration_ms, complete) = (
            run.started_at,
            run.duration_ms.map(|d| d as i64),
            run.complete,
        );
        let image = run.image.map(String::from);
        let raw_size = run.trace_jsonl.len() as i64;
        let (ruleset, verdict_s, score) = (
            verdict.ruleset_hash.to_string(),
            verdict.verdict.as_str().to_string(),
            verdict.score,
        );
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = $1)",
                    &[&run_id],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            if exists {
                return Err(StoreError::DuplicateRun {
                    path: loc.into(),
                    run_id,
                });
            }
            let now = now_ms();
            let artifact_id: i64 = tx
                .query_one(
                    "INSERT INTO artifacts (ecosystem, name, version, sha256, integrity, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (ecosystem, name, version, sha256)
                     DO UPDATE SET integrity = COALESCE(artifacts.integrity, excluded.integrity)
                     RETURNING id",
                    &[
                        &artifact.ecosystem.to_string(),
                        &artifact.name,
                        &artifact.version,
                        &artifact.sha256.as_deref().unwrap_or(""),
                        &artifact.integrity,
                        &now,
                    ],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            let run_row: i64 = tx
                .query_one(
                    "INSERT INTO runs (artifact_id, run_id, started_at, duration_ms, image, complete,
                                       created_at, trace_codec, trace_raw_size, trace_size, trace)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    &[
                        &artifact_id,
                        &run_id,
                        &started_at,
                        &duration_ms,
                        &image,
                        &complete,
                        &now,
                        &codec::GZIP,
                        &raw_size,
                        &(trace.len() as i64),
                        &trace,
                    ],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            insert_verdict(&tx, &loc, RunId(run_row), &ruleset, &verdict_s, score, &report)
                .await?;
            tx.commit().await.map_err(pg(&loc))?;
            Ok(RunId(run_row))
        }))
    }

    pub(super) fn add_verdict(
        &self,
        run: RunId,
        verdict: &VerdictRecord<'_>,
    ) -> Result<(), StoreError> {
        let (pool, loc) = self.ctx();
        let report = codec::compress(verdict.report_json).map_err(codec_err(
            &loc,
            "compress",
            "report",
            format!("run {run}"),
        ))?;
        let (ruleset, verdict_s, score) = (
            verdict.ruleset_hash.to_string(),
            verdict.verdict.as_str().to_string(),
            verdict.score,
        );
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)",
                    &[&run.0],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            if !exists {
                return Err(StoreError::UnknownRun {
                    path: loc.into(),
                    run,
                });
            }
            insert_verdict(&tx, &loc, run, &ruleset, &verdict_s, score, &report).await?;
            tx.commit().await.map_err(pg(&loc))
        }))
    }

    pub(super) fn lookup(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        hash: Option<&str>,
        ruleset_hash: Option<&str>,
    ) -> Result<Option<CachedVerdict>, StoreError> {
        let (pool, loc) = self.ctx();
        let (eco, name, version) = (ecosystem.to_string(), name.to_string(), version.to_string());
        let (hash, rs) = (hash.map(String::from), ruleset_hash.map(String::from));
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            lookup_in(
                &c,
                &loc,
                &eco,
                &name,
                &version,
                hash.as_deref(),
                rs.as_deref(),
            )
            .await
        }))
    }

    pub(super) fn lookup_many(
        &self,
        keys: &[ArtifactQuery],
        ruleset_hash: Option<&str>,
    ) -> Result<Vec<Option<CachedVerdict>>, StoreError> {
        let (pool, loc) = self.ctx();
        let keys = keys.to_vec();
        let rs = ruleset_hash.map(String::from);
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg(&loc))?;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                out.push(
                    lookup_in(
                        &tx,
                        &loc,
                        &k.ecosystem.to_string(),
                        &k.name,
                        &k.version,
                        k.hash.as_deref(),
                        rs.as_deref(),
                    )
                    .await?,
                );
            }
            tx.commit().await.map_err(pg(&loc))?;
            Ok(out)
        }))
    }

    pub(super) fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError> {
        let (pool, loc) = self.ctx();
        let params = filter_params(filter);
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let sql_text = format!(
                "SELECT f.*,
                        (SELECT COUNT(*) FROM runs r WHERE r.artifact_id = f.id),
                        (SELECT COALESCE(SUM(r.trace_size), 0)::BIGINT FROM runs r
                          WHERE r.artifact_id = f.id AND r.trace_pruned_at IS NULL)
                 FROM ({FILTERED_SQL}) f
                 ORDER BY f.ecosystem, f.name, f.version, f.sha256"
            );
            let rows = c
                .query(&sql_text, &[&params[0], &params[1], &params[2], &params[3]])
                .await
                .map_err(pg(&loc))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = row.get(0);
                let artifact = artifact_at(&loc, &row, id, 1)?;
                let verdict: Option<String> = row.get(6);
                let verdict = match verdict {
                    Some(v) => Some(parse_verdict(Path::new(&loc), "artifacts", id, &v)?),
                    None => None,
                };
                out.push(Summary {
                    artifact,
                    verdict,
                    score: row.get(7),
                    ruleset_hash: row.get(8),
                    judged_at_ms: row.get(9),
                    runs: row.get::<_, i64>(10).max(0) as u64,
                    trace_bytes: row.get::<_, i64>(11).max(0) as u64,
                });
            }
            Ok(out)
        }))
    }

    pub(super) fn show(&self, query: &ArtifactQuery) -> Result<Option<Detail>, StoreError> {
        let (pool, loc) = self.ctx();
        let query = query.clone();
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg(&loc))?;
            let eco = query.ecosystem.to_string();
            let Some(latest) = lookup_in(
                &tx,
                &loc,
                &eco,
                &query.name,
                &query.version,
                query.hash.as_deref(),
                None,
            )
            .await?
            else {
                return Ok(None);
            };
            let artifact_id: i64 = tx
                .query_one("SELECT artifact_id FROM runs WHERE id = $1", &[&latest.run.0])
                .await
                .map_err(pg(&loc))?
                .get(0);
            let row = tx
                .query_one(
                    "SELECT ecosystem, name, version, sha256, integrity FROM artifacts WHERE id = $1",
                    &[&artifact_id],
                )
                .await
                .map_err(pg(&loc))?;
            let artifact = artifact_at(&loc, &row, artifact_id, 0)?;
            let row = tx
                .query_one(
                    "SELECT report_codec, report FROM verdicts WHERE run_id = $1 AND ruleset_hash = $2",
                    &[&latest.run.0, &latest.ruleset_hash],
                )
                .await
                .map_err(pg(&loc))?;
            let (codec_name, blob): (String, Vec<u8>) = (row.get(0), row.get(1));
            let raw = codec::decompress(&codec_name, &blob).map_err(codec_err(
                &loc,
                "decompress",
                "report",
                format!("run {}", latest.run),
            ))?;
            let report = serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                path: loc.clone().into(),
                table: "verdicts",
                id: latest.run.0,
                detail: format!("report is not JSON: {e}"),
            })?;
            let rows = tx
                .query(
                    "SELECT id, run_id, started_at, duration_ms, image, complete, trace_raw_size,
                            trace_size, trace_pruned_at IS NULL
                     FROM runs WHERE artifact_id = $1 ORDER BY started_at DESC, id DESC",
                    &[&artifact_id],
                )
                .await
                .map_err(pg(&loc))?;
            let mut runs = Vec::with_capacity(rows.len());
            for r in rows {
                let run = RunId(r.get(0));
                let vrows = tx
                    .query(
                        "SELECT ruleset_hash, verdict, score, created_at FROM verdicts
                         WHERE run_id = $1 ORDER BY created_at, id",
                        &[&run.0],
                    )
                    .await
                    .map_err(pg(&loc))?;
                let mut verdicts = Vec::with_capacity(vrows.len());
                for v in vrows {
                    let verdict: String = v.get(1);
                    verdicts.push(VerdictSummary {
                        ruleset_hash: v.get(0),
                        verdict: parse_verdict(Path::new(&loc), "verdicts", run.0, &verdict)?,
                        score: v.get(2),
                        judged_at_ms: v.get(3),
                    });
                }
                runs.push(RunSummary {
                    run,
                    run_id: r.get(1),
                    started_at: r.get(2),
                    duration_ms: r.get::<_, Option<i64>>(3).map(|d| d.max(0) as u64),
                    image: r.get(4),
                    complete: r.get(5),
                    trace_raw_bytes: r.get::<_, i64>(6).max(0) as u64,
                    trace_bytes: r.get::<_, i64>(7).max(0) as u64,
                    trace_kept: r.get(8),
                    verdicts,
                });
            }
            tx.commit().await.map_err(pg(&loc))?;
            Ok(Some(Detail {
                artifact,
                latest,
                report,
                runs,
            }))
        }))
    }

    pub(super) fn clear(&self, filter: &Filter) -> Result<usize, StoreError> {
        let (pool, loc) = self.ctx();
        let params = filter_params(filter);
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let sql_text =
                format!("DELETE FROM artifacts WHERE id IN (SELECT id FROM ({FILTERED_SQL}) f)");
            let n = c
                .execute(&sql_text, &[&params[0], &params[1], &params[2], &params[3]])
                .await
                .map_err(pg(&loc))?;
            Ok(n as usize)
        }))
    }

    pub(super) fn traces_needing_rejudge(
        &self,
        ruleset_hash: &str,
    ) -> Result<Vec<RejudgeItem>, StoreError> {
        let (pool, loc) = self.ctx();
        let rs = ruleset_hash.to_string();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let rows = c
                .query(
                    "SELECT r.id, r.run_id, a.id, a.ecosystem, a.name, a.version, a.sha256, a.integrity
                     FROM runs r JOIN artifacts a ON a.id = r.artifact_id
                     WHERE r.trace_pruned_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM verdicts v
                                       WHERE v.run_id = r.id AND v.ruleset_hash = $1)
                     ORDER BY r.id",
                    &[&rs],
                )
                .await
                .map_err(pg(&loc))?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.get(2);
                    Ok(RejudgeItem {
                        run: RunId(row.get(0)),
                        run_id: row.get(1),
                        artifact: artifact_at(&loc, row, id, 3)?,
                    })
                })
                .collect()
        }))
    }

    pub(super) fn load_trace(&self, run: RunId) -> Result<Vec<u8>, StoreError> {
        let (codec_name, blob) = self.trace_blob(run)?;
        codec::decompress(&codec_name, &blob).map_err(codec_err(
            &self.location,
            "decompress",
            "trace",
            format!("run {run}"),
        ))
    }

    pub(super) fn trace_reader(&self, run: RunId) -> Result<Box<dyn BufRead + Send>, StoreError> {
        let (codec_name, blob) = self.trace_blob(run)?;
        let r = codec::decoder(&codec_name, blob).map_err(codec_err(
            &self.location,
            "decompress",
            "trace",
            format!("run {run}"),
        ))?;
        Ok(Box::new(r))
    }

    pub(super) fn gc(&self, older_than: Duration) -> Result<GcStats, StoreError> {
        let (pool, loc) = self.ctx();
        let cutoff = now_ms().saturating_sub(older_than.as_millis().min(i64::MAX as u128) as i64);
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let row = tx
                .query_one(
                    "SELECT COUNT(*), COALESCE(SUM(trace_size), 0)::BIGINT FROM runs
                     WHERE trace_pruned_at IS NULL AND created_at < $1",
                    &[&cutoff],
                )
                .await
                .map_err(pg(&loc))?;
            let (traces, bytes): (i64, i64) = (row.get(0), row.get(1));
            tx.execute(
                "UPDATE runs SET trace = NULL, trace_pruned_at = $2
                 WHERE trace_pruned_at IS NULL AND created_at < $1",
                &[&cutoff, &now_ms()],
            )
            .await
            .map_err(pg(&loc))?;
            let jobs = tx
                .execute(
                    "DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_at < $1",
                    &[&cutoff],
                )
                .await
                .map_err(pg(&loc))?;
            tx.commit().await.map_err(pg(&loc))?;
            Ok(GcStats {
                traces_removed: traces as u64,
                bytes_freed: bytes as u64,
                jobs_removed: jobs,
            })
        }))
    }

    pub(super) fn stats(&self) -> Result<Stats, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let r = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM artifacts), (SELECT COUNT(*) FROM runs),
                            (SELECT COUNT(*) FROM verdicts),
                            (SELECT COUNT(*) FROM runs WHERE trace_pruned_at IS NULL),
                            (SELECT COALESCE(SUM(trace_size), 0)::BIGINT FROM runs
                              WHERE trace_pruned_at IS NULL),
                            (SELECT COUNT(*) FROM jobs)",
                    &[],
                )
                .await
                .map_err(pg(&loc))?;
            let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
            Ok(Stats {
                artifacts: n(0),
                runs: n(1),
                verdicts: n(2),
                traces_kept: n(3),
                trace_bytes: n(4),
                jobs: n(5),
            })
        }))
    }

    pub(super) fn trace_blob(&self, run: RunId) -> Result<(String, Vec<u8>), StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let row = c
                .query_opt(
                    "SELECT trace_codec, trace FROM runs WHERE id = $1",
                    &[&run.0],
                )
                .await
                .map_err(pg(&loc))?
                .ok_or_else(|| StoreError::UnknownRun {
                    path: loc.clone().into(),
                    run,
                })?;
            let blob: Option<Vec<u8>> = row.get(1);
            let blob = blob.ok_or_else(|| StoreError::TraceGone {
                path: loc.clone().into(),
                run,
            })?;
            Ok((row.get(0), blob))
        }))
    }
}
