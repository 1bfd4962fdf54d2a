//! On-disk engines for kflow's state stores, side by side on one workload: what a windowed
//! count does to its window store. Built with one engine at a time
//! (`--features redb|fjall|rocksdb`) so that each engine's build time can be measured on
//! its own; `scripts/state-engines.sh` does both and writes the table of
//! `docs/state-engines.md`.
//!
//! Workload (the same for each engine, deterministic):
//! - **update**: 1 M read-modify-write updates of a `u64` count, keyed by user (100 000
//!   users) and window start (10 windows), in batches of 1 000 (one batch per commit
//!   interval, read-your-writes through a batch-local map as a store cache would). No
//!   sync per batch (the changelog topic is the durable copy); a sync every 100 batches
//!   (a local checkpoint).
//! - **get**: 1 M point reads of random (user, window) keys.
//! - **scan**: 20 000 prefix scans, all windows of one user (a window fetch).
//! - **reopen**: close, reopen and scan everything (a restart with a local checkpoint);
//!   the scan must add up to 1 M.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const USERS: u64 = 100_000;
const WINDOWS: u64 = 10;
const UPDATES: u64 = 1_000_000;
const BATCH: u64 = 1_000;
const SYNC_EVERY: u64 = 100;
const GETS: u64 = 1_000_000;
const SCANS: u64 = 20_000;

/// What the bench needs of an engine: batched writes, point reads, prefix scans.
trait Engine: Sized {
    const NAME: &'static str;
    fn open(dir: &Path) -> Self;
    fn get(&self, key: &[u8]) -> Option<u64>;
    /// Writes `batch` atomically; syncs to disk when `sync`.
    fn write(&self, batch: &HashMap<Vec<u8>, u64>, sync: bool);
    /// The sum of the values whose keys start with `prefix` (all keys for an empty one).
    fn scan_sum(&self, prefix: &[u8]) -> u64;
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn user(u: u64) -> Vec<u8> {
    format!("user-{u:08}").into_bytes()
}

fn key(u: u64, w: u64) -> Vec<u8> {
    let mut k = user(u);
    k.extend_from_slice(&(w * 60_000).to_be_bytes());
    k
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64())
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn run<E: Engine>() {
    let dir: PathBuf = std::env::temp_dir().join(format!("kflow-state-{}-{}", E::NAME, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = E::open(&dir);

    let start = Instant::now();
    let mut batch = HashMap::with_capacity(BATCH as usize);
    for b in 0..UPDATES / BATCH {
        for i in b * BATCH..(b + 1) * BATCH {
            let k = key(splitmix(i) % USERS, i * WINDOWS / UPDATES);
            let now = match batch.get(&k) {
                Some(v) => *v,
                None => db.get(&k).unwrap_or(0),
            };
            batch.insert(k, now + 1);
        }
        db.write(&batch, (b + 1) % SYNC_EVERY == 0);
        batch.clear();
    }
    let update = start.elapsed();

    let start = Instant::now();
    let mut found = 0u64;
    for i in 0..GETS {
        let r = splitmix(i ^ 0xABCD);
        found += db.get(&key(r % USERS, (r >> 32) % WINDOWS)).is_some() as u64;
    }
    let get = start.elapsed();
    assert!(found > GETS / 2, "{}: only {found} of {GETS} keys found", E::NAME);

    let start = Instant::now();
    let mut scanned = 0u64;
    for i in 0..SCANS {
        scanned += db.scan_sum(&user(splitmix(i ^ 0x5CA7) % USERS));
    }
    let scan = start.elapsed();
    assert!(scanned > 0);

    drop(db);
    let size = dir_size(&dir);
    let start = Instant::now();
    let db = E::open(&dir);
    let total = db.scan_sum(b"");
    let reopen = start.elapsed();
    assert_eq!(
        total,
        UPDATES,
        "{}: the counts after reopening add up to {total}",
        E::NAME
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "| {} | {} | {} | {} | {:.0} | {:.1} |",
        E::NAME,
        rate(UPDATES, update),
        rate(GETS, get),
        rate(SCANS, scan),
        reopen.as_secs_f64() * 1000.0,
        size as f64 / 1_048_576.0
    );
}

#[cfg(feature = "redb")]
mod redb_engine {
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};

    const TABLE: TableDefinition<&[u8], u64> = TableDefinition::new("windows");

    pub struct Redb(Database);

    impl super::Engine for Redb {
        const NAME: &'static str = "redb";

        fn open(dir: &std::path::Path) -> Self {
            let db = Database::create(dir.join("state.redb")).expect("open redb");
            let w = db.begin_write().expect("begin");
            w.open_table(TABLE).expect("table");
            w.commit().expect("commit");
            Redb(db)
        }

        fn get(&self, key: &[u8]) -> Option<u64> {
            let r = self.0.begin_read().expect("read");
            let t = r.open_table(TABLE).expect("table");
            t.get(key).expect("get").map(|v| v.value())
        }

        fn write(&self, batch: &std::collections::HashMap<Vec<u8>, u64>, sync: bool) {
            let mut w = self.0.begin_write().expect("begin");
            w.set_durability(if sync { Durability::Immediate } else { Durability::None })
                .expect("durability");
            {
                let mut t = w.open_table(TABLE).expect("table");
                for (k, v) in batch {
                    t.insert(k.as_slice(), v).expect("insert");
                }
            }
            w.commit().expect("commit");
        }

        fn scan_sum(&self, prefix: &[u8]) -> u64 {
            let r = self.0.begin_read().expect("read");
            let t = r.open_table(TABLE).expect("table");
            let mut sum = 0;
            for e in t.range(prefix..).expect("range") {
                let (k, v) = e.expect("entry");
                if !k.value().starts_with(prefix) {
                    break;
                }
                sum += v.value();
            }
            sum
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_engine {
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    pub struct Fjall(Database, Keyspace);

    impl super::Engine for Fjall {
        const NAME: &'static str = "fjall";

        fn open(dir: &std::path::Path) -> Self {
            let db = Database::builder(dir).open().expect("open fjall");
            let ks = db
                .keyspace("windows", KeyspaceCreateOptions::default)
                .expect("keyspace");
            Fjall(db, ks)
        }

        fn get(&self, key: &[u8]) -> Option<u64> {
            let v = self.1.get(key).expect("get")?;
            Some(u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes")))
        }

        fn write(&self, batch: &std::collections::HashMap<Vec<u8>, u64>, sync: bool) {
            let mut b = self.0.batch();
            for (k, v) in batch {
                b.insert(&self.1, k.as_slice(), v.to_le_bytes().as_slice());
            }
            b.commit().expect("commit");
            if sync {
                self.0.persist(PersistMode::SyncAll).expect("persist");
            }
        }

        fn scan_sum(&self, prefix: &[u8]) -> u64 {
            self.1
                .prefix(prefix)
                .map(|g| {
                    let (_, v) = g.into_inner().expect("entry");
                    u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes"))
                })
                .sum()
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocksdb_engine {
    use rocksdb::{Options, WriteBatch, WriteOptions, DB};

    pub struct Rocks(DB);

    impl super::Engine for Rocks {
        const NAME: &'static str = "rocksdb";

        fn open(dir: &std::path::Path) -> Self {
            let mut o = Options::default();
            o.create_if_missing(true);
            Rocks(DB::open(&o, dir).expect("open rocksdb"))
        }

        fn get(&self, key: &[u8]) -> Option<u64> {
            let v = self.0.get_pinned(key).expect("get")?;
            Some(u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes")))
        }

        fn write(&self, batch: &std::collections::HashMap<Vec<u8>, u64>, sync: bool) {
            let mut b = WriteBatch::default();
            for (k, v) in batch {
                b.put(k, v.to_le_bytes());
            }
            let mut w = WriteOptions::default();
            w.set_sync(sync);
            self.0.write_opt(b, &w).expect("write");
        }

        fn scan_sum(&self, prefix: &[u8]) -> u64 {
            let mut sum = 0;
            for e in self
                .0
                .iterator(rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward))
            {
                let (k, v) = e.expect("entry");
                if !k.starts_with(prefix) {
                    break;
                }
                sum += u64::from_le_bytes(v.as_ref().try_into().expect("8 bytes"));
            }
            sum
        }
    }
}

fn main() {
    #[cfg(feature = "redb")]
    run::<redb_engine::Redb>();
    #[cfg(feature = "fjall")]
    run::<fjall_engine::Fjall>();
    #[cfg(feature = "rocksdb")]
    run::<rocksdb_engine::Rocks>();
}
