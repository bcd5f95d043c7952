//! A process's drain: once it begins, background work stops taking more (the dispatcher claims
//! no more messages, job runners stop after the chunk they are writing and give their job back)
//! and the readiness check answers "draining".

use std::sync::Arc;

use tokio::sync::watch;

/// Shared by every clone of the `App` of one process.
#[derive(Clone)]
pub struct Shutdown {
    draining: Arc<watch::Sender<bool>>,
    /// Jobs this process is running now.
    running_jobs: Arc<watch::Sender<usize>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            draining: Arc::new(watch::channel(false).0),
            running_jobs: Arc::new(watch::channel(0).0),
        }
    }
}

impl Shutdown {
    /// Starts the drain; work in progress finishes or is given back.
    pub fn begin(&self) {
        self.draining.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves once the drain has begun.
    pub async fn draining(&self) {
        let mut seen = self.draining.subscribe();
        let _ = seen.wait_for(|draining| *draining).await;
    }

    /// Resolves once no job runs in this process.
    pub async fn jobs_stopped(&self) {
        let mut seen = self.running_jobs.subscribe();
        let _ = seen.wait_for(|running| *running == 0).await;
    }

    /// Counts a job as running until the returned guard is dropped.
    pub(crate) fn job_running(&self) -> JobRunning {
        self.running_jobs.send_modify(|n| *n += 1);
        JobRunning(self.running_jobs.clone())
    }
}

pub(crate) struct JobRunning(Arc<watch::Sender<usize>>);

impl Drop for JobRunning {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}
