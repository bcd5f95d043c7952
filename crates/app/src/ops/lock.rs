//! The lock a serving process holds on its SQLite database for as long as it runs, so a restore
//! can tell a live database from a stopped one. It is an advisory lock on a file of its own
//! (`rollcall.db.lock`, holding the server's process id), taken with `flock`: the kernel gives
//! it back when the process ends, however it ends, and SQLite's own locks on the database file
//! are left alone.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held until dropped.
pub struct ServerLock {
    _file: File,
}

/// Another process holds the lock; its process id when it wrote one.
#[derive(Debug)]
pub struct Held {
    pub pid: Option<u32>,
    pub lock_file: PathBuf,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "a running Rollcall server (process {pid}) holds it"),
            None => write!(f, "a running Rollcall process holds it"),
        }
    }
}

impl ServerLock {
    /// The lock file of the SQLite database at `db_path`.
    pub fn path_for(db_path: &Path) -> PathBuf {
        let mut name = db_path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock at once or says who holds it.
    pub fn take(db_path: &Path) -> std::io::Result<Result<ServerLock, Held>> {
        let lock_file = Self::path_for(db_path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_file)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                write!(file, "{}", std::process::id())?;
                file.flush()?;
                Ok(Ok(ServerLock { _file: file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Ok(Err(Held {
                    pid: text.trim().parse().ok(),
                    lock_file,
                }))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
