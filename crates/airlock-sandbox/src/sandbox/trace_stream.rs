//! The tracer's output on its way out of the container. strace used to write into a
//! size-limited tmpfs inside the sandbox that was copied out after the phase: a package
//! that made ~200k failed `open()` calls with long paths filled it, and the credential
//! read and dropped miner after the flood — and the whole next phase — were never
//! recorded (issue 19). Now strace writes into a FIFO that a root `cat` streams to the
//! host while the phase runs. On the host, repetitive lines are folded into counts
//! ([`airlock_recorder::fold::LineFolder`]) and only past [`crate::Limits::trace_bytes`]
//! kept bytes is the rest counted and dropped, which the phase reports as the `trace`
//! limit. Nothing is ever written inside the container, so nothing there can fill up.

use std::path::PathBuf;
use std::time::Duration;

use airlock_recorder::fold::LineFolder;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use super::Sandbox;
use crate::error::SandboxError;

/// A line longer than this without a newline is cut into pieces (strace prints at most
/// a few strings of `-s 4096` bytes per line, so only garbage gets here).
const LINE_MAX: usize = 1 << 20;

/// What the stream kept, folded and cut.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamStats {
    /// Bytes written to the host file (lines kept plus the fold summary).
    pub kept_bytes: u64,
    /// Lines folded into counts.
    pub folded_lines: u64,
    /// Lines counted but not kept past the byte cap.
    pub cut_lines: u64,
    pub cut_bytes: u64,
    /// False when the stream had to be abandoned (the tracer outlived the phase): the
    /// host file holds what came before, the rest is lost.
    pub ended: bool,
}

/// A running copy of one phase's trace from a FIFO in the container to a host file.
pub(crate) struct TraceStream {
    fifo: String,
    dest: PathBuf,
    task: JoinHandle<Result<StreamStats, SandboxError>>,
}

impl Sandbox {
    /// Makes `fifo` (root-only) in the container and starts streaming what is written
    /// into it to `dest`. Call before the tracer starts; [`TraceStream::finish`] after.
    pub(crate) async fn stream_trace(
        &self,
        fifo: &str,
        dest: PathBuf,
    ) -> Result<TraceStream, SandboxError> {
        // One exec makes the FIFO, says so on stderr, then becomes the reader (before:
        // one exec for the FIFO and another for the reader, every phase). The tracer
        // must not start before the FIFO exists, so this returns after the word.
        let what = format!("streaming the trace from {fifo}");
        let exec = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions::<String> {
                    cmd: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        "rm -f -- \"$1\" && mkfifo -m 0600 -- \"$1\" && echo fifo-ready >&2 && exec cat -- \"$1\"".into(),
                        "trace-fifo".into(),
                        fifo.into(),
                    ]),
                    user: Some("0:0".into()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(SandboxError::docker(what.clone()))?;
        let started = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(SandboxError::docker(what.clone()))?;
        let StartExecResults::Attached { mut output, .. } = started else {
            return Err(SandboxError::Container {
                container: self.id.clone(),
                message: format!("{what}: the exec did not attach"),
            });
        };
        let mut said = Vec::new();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(LogOutput::StdErr { message }) => {
                        said.extend_from_slice(&message);
                        if said.windows(10).any(|w| w == b"fifo-ready") {
                            return true;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            return Err(SandboxError::Container {
                container: self.id.clone(),
                message: format!(
                    "making the trace FIFO {fifo} failed: {}",
                    String::from_utf8_lossy(&said).trim()
                ),
            });
        }
        let task = tokio::spawn(pump(output, dest.clone(), self.cfg.limits.trace_bytes));
        Ok(TraceStream {
            fifo: fifo.to_string(),
            dest,
            task,
        })
    }
}

impl TraceStream {
    /// Waits for the copy to end (the tracer closed the FIFO when the phase ended) and
    /// returns the host file and what was kept. A reader still waiting for a writer that
    /// never came (the tracer failed to start) is released by opening the FIFO once; a
    /// stream that still does not end is abandoned with what it wrote (`ended: false`),
    /// never failing the run.
    pub(crate) async fn finish(
        mut self,
        sandbox: &Sandbox,
    ) -> Result<(PathBuf, StreamStats), SandboxError> {
        let joined = match tokio::time::timeout(Duration::from_secs(30), &mut self.task).await {
            Ok(j) => j,
            Err(_) => {
                tracing::warn!(fifo = %self.fifo, "trace stream still open 30 s after the phase; closing it");
                let _ = sandbox
                    .exec(
                        &[
                            "timeout",
                            "5",
                            "sh",
                            "-c",
                            ": > \"$1\"",
                            "close",
                            &self.fifo,
                        ],
                        "0:0",
                        None,
                        1024,
                    )
                    .await;
                match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
                    Ok(j) => j,
                    Err(_) => {
                        self.task.abort();
                        tracing::warn!(fifo = %self.fifo, "trace stream abandoned");
                        let kept_bytes = tokio::fs::metadata(&self.dest)
                            .await
                            .map(|m| m.len())
                            .unwrap_or(0);
                        let stats = StreamStats {
                            kept_bytes,
                            ended: false,
                            ..StreamStats::default()
                        };
                        return Ok((self.dest, stats));
                    }
                }
            }
        };
        let stats = joined.map_err(|e| SandboxError::Container {
            container: sandbox.id.clone(),
            message: format!("the trace stream from {} failed: {e}", self.fifo),
        })??;
        Ok((self.dest, stats))
    }
}

/// Copies the exec's stdout into `dest` line by line through the folder and the cap,
/// then appends the fold summary.
async fn pump<S>(mut output: S, dest: PathBuf, cap: u64) -> Result<StreamStats, SandboxError>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    let io = |e| SandboxError::Io {
        path: dest.clone(),
        source: e,
    };
    let mut file = tokio::fs::File::create(&dest).await.map_err(io)?;
    let mut sink = LineSink {
        folder: LineFolder::default(),
        cap,
        stats: StreamStats::default(),
        buf: Vec::with_capacity(1 << 16),
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut broke = false;
    while let Some(chunk) = output.next().await {
        let message = match chunk {
            Ok(LogOutput::StdOut { message }) => message,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "trace stream broke off");
                broke = true;
                break;
            }
        };
        carry.extend_from_slice(&message);
        let mut start = 0;
        while let Some(pos) = carry[start..].iter().position(|&b| b == b'\n') {
            sink.line(&carry[start..start + pos + 1]);
            start += pos + 1;
        }
        carry.drain(..start);
        if carry.len() > LINE_MAX {
            let piece = std::mem::take(&mut carry);
            sink.line(&piece);
        }
        if sink.buf.len() >= 1 << 16 {
            file.write_all(&sink.buf).await.map_err(io)?;
            sink.buf.clear();
        }
    }
    // A last line without its newline stays so: the recorder marks the trace cut.
    if !carry.is_empty() {
        sink.line(&carry);
    }
    let summary = sink.folder.summary_lines();
    sink.buf.extend_from_slice(summary.as_bytes());
    sink.stats.kept_bytes += summary.len() as u64;
    sink.stats.folded_lines = sink.folder.folded_lines();
    sink.stats.ended = !broke;
    file.write_all(&sink.buf).await.map_err(io)?;
    file.flush().await.map_err(io)?;
    Ok(sink.stats)
}

struct LineSink {
    folder: LineFolder,
    cap: u64,
    stats: StreamStats,
    buf: Vec<u8>,
}

impl LineSink {
    fn line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if !self.folder.admit(&text) {
            return;
        }
        let n = line.len() as u64;
        if self.stats.kept_bytes + n > self.cap {
            self.stats.cut_lines += 1;
            self.stats.cut_bytes += n;
            return;
        }
        self.stats.kept_bytes += n;
        self.buf.extend_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(lines: &[String], split: usize) -> Vec<Result<LogOutput, bollard::errors::Error>> {
        // Chunks that cut lines in the middle, as the exec stream does.
        let all: Vec<u8> = lines.concat().into_bytes();
        all.chunks(split)
            .map(|c| {
                Ok(LogOutput::StdOut {
                    message: c.to_vec().into(),
                })
            })
            .collect()
    }

    #[tokio::test]
    async fn floods_fold_and_the_cap_cuts_at_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("install.strace");
        let mut lines: Vec<String> = (0..5000)
            .map(|i| {
                format!(
                    "10 1.{i:06} openat(AT_FDCWD</w>, \"/nonexistent/{}/{i}\", O_RDONLY) = -1 ENOENT (No such file or directory)\n",
                    "d".repeat(300)
                )
            })
            .collect();
        lines.push("10 2.000000 execve(\"/tmp/xmrig\", [\"xmrig\"], 0x1 /* 1 var */) = 0\n".into());
        lines.push("10 2.000001 +++ exited with 0 +++".into());
        let stream = futures_util::stream::iter(frames(&lines, 4093));
        let stats = pump(stream, dest.clone(), 1 << 20).await.unwrap();
        let text = std::fs::read_to_string(&dest).unwrap();
        assert_eq!(stats.cut_lines, 0);
        assert_eq!(stats.folded_lines, 4900);
        assert!(text.contains("execve(\"/tmp/xmrig\""));
        assert!(text.contains("+++ exited with 0 +++"));
        assert!(
            text.contains("# airlock-fold 4900 "),
            "{}",
            &text[text.len() - 300..]
        );
        assert_eq!(stats.kept_bytes, text.len() as u64);

        // A cap smaller than what is kept: whole lines are cut, never halves.
        let stream = futures_util::stream::iter(frames(&lines, 1000));
        let stats = pump(stream, dest.clone(), 10_000).await.unwrap();
        let text = std::fs::read_to_string(&dest).unwrap();
        assert!(stats.cut_lines > 0);
        assert!(text
            .lines()
            .all(|l| l.starts_with("10 ") || l.starts_with("# airlock-fold")));
    }
}
