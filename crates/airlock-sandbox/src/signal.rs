//! One way to stop: Ctrl-C (SIGINT), `timeout`/systemd/CI cancellation (SIGTERM) and a
//! closed terminal (SIGHUP) all end a run the same way — the work in flight is dropped
//! (its work directory with it), every container the run created is removed, and the
//! command exits with 128 + the signal's number (the shell's convention, which `scan`
//! already used for Ctrl-C: 130).

use std::future::Future;
use std::time::Duration;

use crate::docker::Tracker;

/// A signal that asks airlock to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
            Signal::Hangup => 1,
        }
    }

    /// The exit status after this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        128 + self.number()
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Resolves on the first SIGINT, SIGTERM or SIGHUP. The handlers are installed when this
/// function is called (not when the future is first polled), so a signal that arrives
/// right after is never lost to the default action (which would leave containers behind).
pub fn shutdown_signal() -> impl Future<Output = Signal> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let install = |kind: SignalKind, which: Signal| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(signal = %which, error = %e, "cannot handle the signal");
            None
        }
    };
    let mut int = install(SignalKind::interrupt(), Signal::Interrupt);
    let mut term = install(SignalKind::terminate(), Signal::Terminate);
    let mut hup = install(SignalKind::hangup(), Signal::Hangup);
    async move {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut int) => Signal::Interrupt,
            _ = recv(&mut term) => Signal::Terminate,
            _ = recv(&mut hup) => Signal::Hangup,
        }
    }
}

/// How long the removal after a signal may take before airlock gives up and exits (the
/// containers then stop by themselves: their owner's hold on them is gone).
pub const CLEANUP_LIMIT: Duration = Duration::from_secs(20);

/// Runs `work` until it finishes or a shutdown signal arrives. On a signal the work is
/// dropped first (its temporary directories are removed on drop), then every container
/// in `tracker` is removed, and the signal is returned. Containers the work left in the
/// tracker (an error path that skipped its own cleanup) are removed either way.
pub async fn until_signal<F: Future>(tracker: &Tracker, work: F) -> Result<F::Output, Signal> {
    let signal = shutdown_signal();
    let outcome = tokio::select! {
        out = work => Ok(out),
        s = signal => Err(s),
    };
    if outcome.is_err() {
        // Blocking work (host-side npm or pip) outlives the dropped future: end it, or it
        // delays the exit and may re-create the work directory just removed.
        end_helpers().await;
    }
    let leftovers = outcome.is_err() || !tracker.ids().is_empty();
    if leftovers
        && tokio::time::timeout(CLEANUP_LIMIT, tracker.cleanup())
            .await
            .is_err()
    {
        tracing::warn!("removing the containers took too long; they stop by themselves");
    }
    if outcome.is_err() {
        crate::owner::remove_own_work_dirs();
    }
    outcome
}

/// Sends SIGTERM to this process's helper processes and waits up to 3 s for them, then
/// SIGKILL to any still there.
async fn end_helpers() {
    use nix::sys::signal::{kill, Signal as Sig};
    use nix::unistd::Pid;
    let send = |sig: Sig| {
        let pids = crate::owner::descendants();
        for &pid in &pids {
            if let Ok(p) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(p), sig);
            }
        }
        pids.len()
    };
    if send(Sig::SIGTERM) == 0 {
        return;
    }
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if crate::owner::descendants().is_empty() {
            return;
        }
    }
    send(Sig::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Hangup.exit_code(), 129);
    }

    #[tokio::test]
    async fn work_that_finishes_is_returned() {
        let t = Tracker::new();
        assert_eq!(until_signal(&t, async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_hangup_ends_the_work() {
        let t = Tracker::new();
        let pid = std::process::id().to_string();
        let work = async {
            // The handlers are in place once until_signal has been polled once.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status();
            std::future::pending::<()>().await
        };
        let r = tokio::time::timeout(Duration::from_secs(10), until_signal(&t, work)).await;
        assert_eq!(r, Ok(Err(Signal::Hangup)));
    }
}
