//! The on-disk backend of a task's store: a redb database holding what the store's
//! changelog partition holds, as of a changelog offset.
//!
//! - Only acknowledged changelog writes are applied, in the order they were sent, so the
//!   database never holds a change the changelog does not. Between checkpoints they are
//!   committed without a sync (redb `Durability::None`): after a crash the database is
//!   the last checkpoint's.
//! - A **checkpoint** is a durable commit recording the changelog offset its content
//!   reaches: a checkpoint marker's offset, written when every earlier write was applied
//!   and before any later one was sent. A restart reads the changelog from there only.
//! - Reading the tail again over newer content is harmless: each changelog record holds a
//!   key's whole value (or its deletion), so applying it twice gives the same database.
//!
//! One database file per store and partition:
//! `<state dir>/<changelog topic>/<partition>.redb`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};

/// The store's entries: changelog key → changelog value.
const ENTRIES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("entries");
/// Checkpoint metadata: `from` (the changelog offset a restore starts at, big-endian
/// `i64`) and `stream_time`.
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// The page cache of each database: small, since the store keeps its own cache of
/// decoded entries (redb's default is 1 GiB, which would undo a bounded store).
const PAGE_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// How long opening a database waits for the previous owner of the partition (a task of
/// the same process being dropped) to let go of it.
const OPEN_WAIT: Duration = Duration::from_secs(10);

/// One store partition's database.
pub(crate) struct Disk {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Disk({})", self.path.display())
    }
}

/// What a checkpoint left: where the changelog is to be read from, and the stream time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub from: i64,
    pub stream_time: Option<i64>,
}

fn err(path: &Path, what: &str, e: impl std::fmt::Display) -> String {
    format!("state database {}: {what}: {e}", path.display())
}

impl Disk {
    /// Opens (or creates) the database of `partition` of the store whose changelog is
    /// `topic`, under `dir`. Waits up to 10 s for a previous owner in this process.
    pub(crate) async fn open(dir: &Path, topic: &str, partition: i32) -> Result<Disk, String> {
        let folder = dir.join(topic);
        let path = folder.join(format!("{partition}.redb"));
        std::fs::create_dir_all(&folder).map_err(|e| err(&path, "cannot create its directory", e))?;
        let deadline = tokio::time::Instant::now() + OPEN_WAIT;
        loop {
            let opened = Database::builder().set_cache_size(PAGE_CACHE_BYTES).create(&path);
            match opened {
                Ok(db) => {
                    let disk = Disk { db, path };
                    disk.write(
                        |tx| {
                            tx.open_table(ENTRIES)?;
                            tx.open_table(META)?;
                            Ok(())
                        },
                        Durability::Immediate,
                    )?;
                    return Ok(disk);
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(err(&path, "cannot be opened", e)),
            }
        }
    }

    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
        durability: Durability,
    ) -> Result<(), String> {
        let run = || -> Result<(), redb::Error> {
            let mut tx = self.db.begin_write()?;
            tx.set_durability(durability)?;
            f(&tx)?;
            tx.commit()?;
            Ok(())
        };
        run().map_err(|e| err(&self.path, "a write failed", e))
    }

    /// The last checkpoint (offset 0 and no stream time for a new database).
    pub(crate) fn checkpoint(&self) -> Result<Checkpoint, String> {
        let read = || -> Result<Checkpoint, redb::Error> {
            let tx = self.db.begin_read()?;
            let meta = tx.open_table(META)?;
            let number = |name: &str| -> Result<Option<i64>, redb::Error> {
                Ok(meta
                    .get(name)?
                    .and_then(|v| v.value().try_into().ok().map(i64::from_be_bytes)))
            };
            Ok(Checkpoint {
                from: number("from")?.unwrap_or(0),
                stream_time: number("stream_time")?,
            })
        };
        read().map_err(|e| err(&self.path, "its checkpoint cannot be read", e))
    }

    /// Applies `batch` (a deletion where the value is `None`), in order; with
    /// `checkpoint`, also records it, durably.
    pub(crate) fn apply(&self, batch: &[(Bytes, Option<Bytes>)], checkpoint: Option<Checkpoint>) -> Result<(), String> {
        if batch.is_empty() && checkpoint.is_none() {
            return Ok(());
        }
        let durability = if checkpoint.is_some() {
            Durability::Immediate
        } else {
            Durability::None
        };
        self.write(
            |tx| {
                let mut entries = tx.open_table(ENTRIES)?;
                for (key, value) in batch {
                    match value {
                        Some(v) => {
                            entries.insert(key.as_ref(), v.as_ref())?;
                        }
                        None => {
                            entries.remove(key.as_ref())?;
                        }
                    }
                }
                if let Some(c) = checkpoint {
                    let mut meta = tx.open_table(META)?;
                    meta.insert("from", c.from.to_be_bytes().as_slice())?;
                    if let Some(t) = c.stream_time {
                        meta.insert("stream_time", t.to_be_bytes().as_slice())?;
                    }
                }
                Ok(())
            },
            durability,
        )
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>, String> {
        let read = || -> Result<Option<Bytes>, redb::Error> {
            let tx = self.db.begin_read()?;
            let entries = tx.open_table(ENTRIES)?;
            Ok(entries.get(key)?.map(|v| Bytes::copy_from_slice(v.value())))
        };
        read().map_err(|e| err(&self.path, "a read failed", e))
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(crate) fn scan(&self, prefix: &[u8]) -> Result<Vec<(Bytes, Bytes)>, String> {
        self.range(prefix, |k, v| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
    }

    /// The keys of every entry whose key starts with `prefix`, in key order.
    pub(crate) fn keys(&self, prefix: &[u8]) -> Result<Vec<Bytes>, String> {
        self.range(prefix, |k, _| Bytes::copy_from_slice(k))
    }

    fn range<T>(&self, prefix: &[u8], mut each: impl FnMut(&[u8], &[u8]) -> T) -> Result<Vec<T>, String> {
        let mut read = || -> Result<Vec<T>, redb::Error> {
            let tx = self.db.begin_read()?;
            let entries = tx.open_table(ENTRIES)?;
            let mut out = Vec::new();
            for entry in entries.range(prefix..)? {
                let (k, v) = entry?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push(each(k.value(), v.value()));
            }
            Ok(out)
        };
        read().map_err(|e| err(&self.path, "a scan failed", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "kflow-disk-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[tokio::test]
    async fn applied_writes_and_checkpoints_survive_a_reopen() {
        let d = dir("reopen");
        {
            let disk = Disk::open(&d, "c", 0).await.unwrap();
            assert_eq!(disk.checkpoint().unwrap(), Checkpoint::default());
            disk.apply(
                &[
                    (b("a1"), Some(b("x"))),
                    (b("a2"), Some(b("y"))),
                    (b("b1"), Some(b("z"))),
                ],
                None,
            )
            .unwrap();
            disk.apply(
                &[(b("a2"), None)],
                Some(Checkpoint {
                    from: 7,
                    stream_time: Some(99),
                }),
            )
            .unwrap();
        }
        let disk = Disk::open(&d, "c", 0).await.unwrap();
        assert_eq!(
            disk.checkpoint().unwrap(),
            Checkpoint {
                from: 7,
                stream_time: Some(99)
            }
        );
        assert_eq!(disk.get(b"a1").unwrap(), Some(b("x")));
        assert_eq!(disk.get(b"a2").unwrap(), None, "deleted");
        assert_eq!(disk.scan(b"a").unwrap(), [(b("a1"), b("x"))]);
        assert_eq!(disk.keys(b"b").unwrap(), [b("b1")]);
        std::fs::remove_dir_all(d).ok();
    }

    #[tokio::test]
    async fn a_second_open_waits_for_the_first_owner() {
        let d = dir("owner");
        let first = Disk::open(&d, "c", 3).await.unwrap();
        let d2 = d.clone();
        let second = tokio::spawn(async move { Disk::open(&d2, "c", 3).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the file is held");
        drop(first);
        second.await.unwrap().unwrap();
        std::fs::remove_dir_all(d).ok();
    }
}
