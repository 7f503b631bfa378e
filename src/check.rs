//! Verifying a repository (`cairn check`). The structure is always checked: snapshots, index
//! files, pack lengths and headers against the index, every tree of every snapshot and that
//! every blob they reference is indexed. With `read_data`, packs are read and every blob in
//! them decrypted, decompressed and re-hashed. Read-only: it reports, it never changes.

use std::collections::{HashMap, HashSet};

use cairn_format::envelope::BlobType;
use cairn_format::header::FileKind;
use cairn_format::id::{ObjectId, PackId, SnapshotId, TreeId};
use cairn_format::index::IndexPack;
use cairn_format::pack::PackEntry;
use cairn_format::tree::NodeKind;
use rayon::prelude::*;

use crate::error::{Error, ObjectKind, Result};
use crate::index::{Index, read_index_files};
use crate::layout;
use crate::pack::{pack_read_error, read_pack_header};
use crate::progress::{CancelToken, Meter, Phase, Progress, with_ticker};
use crate::repository::Repository;
use crate::tree::load_tree;

/// How much pack data a check reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ReadData {
    /// Structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// Part `n` of `m` (1-based): runs 1/m … m/m together read every pack once.
    Subset {
        /// Which part.
        n: u32,
        /// Of how many.
        m: u32,
    },
    /// Each pack with this probability (percent, chosen at random each run).
    Percent(f64),
}

impl ReadData {
    /// Parses `N/M` or `P%` (as `--read-data-subset` takes them).
    pub fn parse_subset(text: &str) -> Result<ReadData> {
        let invalid = || {
            Error::invalid(
                "read-data subset",
                format!("{text:?} is neither N/M (1 <= N <= M) nor P% (0 < P <= 100)"),
            )
        };
        if let Some(percent) = text.strip_suffix('%') {
            let percent: f64 = percent.trim().parse().map_err(|_| invalid())?;
            return if percent > 0.0 && percent <= 100.0 {
                Ok(ReadData::Percent(percent))
            } else {
                Err(invalid())
            };
        }
        let (n, m) = text.split_once('/').ok_or_else(invalid)?;
        let (n, m): (u32, u32) =
            (n.trim().parse().map_err(|_| invalid())?, m.trim().parse().map_err(|_| invalid())?);
        if n == 0 || m == 0 || n > m {
            return Err(invalid());
        }
        Ok(ReadData::Subset { n, m })
    }

    fn selects(self, pack: &PackId) -> bool {
        match self {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Subset { n, m } => {
                let [a, b, c, d, ..] = pack.0.0;
                u32::from_le_bytes([a, b, c, d]) % m == n - 1
            }
            ReadData::Percent(percent) => {
                let mut bytes = [0u8; 8];
                // Without randomness, a deterministic pick is still a valid sample.
                if crate::crypto::random_bytes(&mut bytes).is_err() {
                    bytes.copy_from_slice(&pack.0.0[..8]);
                }
                (u64::from_le_bytes(bytes) as f64 / u64::MAX as f64) * 100.0 < percent
            }
        }
    }
}

/// What to check.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    /// Which packs to read in full.
    pub read_data: ReadData,
}

/// A kind of problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Problem {
    /// A snapshot file cannot be read.
    DamagedSnapshot,
    /// An index file cannot be read (and no other index file supersedes it).
    DamagedIndex,
    /// A pack the index names is not in the repository.
    MissingPack,
    /// A pack's length differs from the index's.
    PackLengthMismatch,
    /// A pack's header cannot be read.
    DamagedPackHeader,
    /// A pack's header lists other blobs than the index says.
    PackHeaderMismatch,
    /// A pack's bytes do not hash to its name.
    PackHashMismatch,
    /// A blob fails decryption, decompression or its id check.
    DamagedBlob,
    /// A blob a snapshot needs is in no index.
    MissingBlob,
    /// A tree cannot be read or decoded.
    DamagedTree,
    /// A pack no index names: left by an interrupted backup. Not damage.
    UnindexedPack,
}

impl Problem {
    /// Whether the problem loses or may lose data (orphans do not).
    #[must_use]
    pub fn is_damage(self) -> bool {
        self != Problem::UnindexedPack
    }

    /// What the user can do about it, in one line.
    #[must_use]
    pub fn advice(self) -> &'static str {
        match self {
            Problem::DamagedSnapshot => "the snapshot cannot be restored; other snapshots are unaffected",
            Problem::DamagedIndex | Problem::PackHeaderMismatch => {
                "run `cairn repair index` to rebuild the index from the packs"
            }
            Problem::PackLengthMismatch => {
                "run `cairn repair index`, then `cairn repair snapshots` to write snapshots without the lost files"
            }
            Problem::DamagedPackHeader => {
                "its blobs still restore through the index; run `cairn check --read-data` to learn whether they are damaged too"
            }
            Problem::PackHashMismatch | Problem::DamagedBlob => {
                "run `cairn repair snapshots --read-data` to write snapshots without the damaged files, then back them up again"
            }
            Problem::MissingPack | Problem::MissingBlob | Problem::DamagedTree => {
                "run `cairn repair snapshots` to write snapshots without the lost files, then back them up again"
            }
            Problem::UnindexedPack => {
                "unused data from an interrupted backup; `cairn repair index` indexes it"
            }
        }
    }
}

/// Files of one snapshot that a problem makes unrestorable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affected {
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// Paths in it (a directory stands for everything below it).
    pub paths: Vec<String>,
}

/// One problem found.
#[derive(Clone, Debug)]
pub struct Finding {
    /// What is wrong.
    pub problem: Problem,
    /// The object it is about.
    pub object: ObjectKind,
    /// That object's id.
    pub id: String,
    /// The pack holding it, for blobs.
    pub pack: Option<PackId>,
    /// Details, in one line.
    pub detail: String,
    /// Snapshots and paths it affects (for blobs and trees).
    pub affected: Vec<Affected>,
    /// No snapshot needs the damaged data (and every tree of every snapshot could be read, so
    /// this is known): reported, but nothing is lost.
    pub unused: bool,
}

impl Finding {
    /// Whether this finding loses or may lose data a snapshot needs.
    #[must_use]
    pub fn is_damage(&self) -> bool {
        self.problem.is_damage() && !self.unused
    }

    /// What the user can do about it, in one line.
    #[must_use]
    pub fn advice(&self) -> &'static str {
        if self.unused {
            "no snapshot needs this data, so nothing is lost; it only takes space"
        } else {
            self.problem.advice()
        }
    }
}

/// The result of a check.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Everything found, damage and orphans.
    pub findings: Vec<Finding>,
    /// Snapshots checked.
    pub snapshots: u64,
    /// Distinct trees read.
    pub trees: u64,
    /// Index files read.
    pub index_files: u64,
    /// Packs the index names.
    pub packs: u64,
    /// Packs read in full.
    pub packs_read: u64,
    /// Blobs decrypted and re-hashed.
    pub blobs_read: u64,
    /// Bytes of packs read.
    pub bytes_read: u64,
}

impl CheckReport {
    /// Whether anything is damaged.
    #[must_use]
    pub fn is_damaged(&self) -> bool {
        self.findings.iter().any(Finding::is_damage)
    }

    #[allow(clippy::needless_pass_by_value)] // callers pass Copy ids
    fn add(
        &mut self,
        problem: Problem,
        object: ObjectKind,
        id: impl ToString,
        pack: Option<PackId>,
        detail: String,
    ) {
        self.findings.push(Finding {
            problem,
            object,
            id: id.to_string(),
            pack,
            detail,
            affected: Vec::new(),
            unused: false,
        });
    }
}

impl Repository {
    /// Checks the repository; see the module documentation for what is checked.
    pub fn check(
        &self,
        options: &CheckOptions,
        progress: &dyn Progress,
        cancel: &CancelToken,
    ) -> Result<CheckReport> {
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "check");
        let mut report = CheckReport::default();
        let listing = self.snapshots()?;
        for (id, error) in &listing.damaged {
            report.add(Problem::DamagedSnapshot, ObjectKind::Snapshot, id, None, error.to_string());
        }
        report.snapshots = listing.snapshots.len() as u64;
        let files = read_index_files(self)?;
        report.index_files = files.readable.len() as u64;
        let indexed = indexed_packs(&files.readable);
        let index = Index::from_files(files.readable);
        for (id, error) in &files.damaged {
            if !index.is_superseded(id) {
                report.add(Problem::DamagedIndex, ObjectKind::Index, id, None, error.to_string());
            }
        }
        report.packs = indexed.len() as u64;
        cancel.check()?;
        let present = self.check_pack_files(&indexed, &mut report)?;
        cancel.check()?;
        self.check_pack_headers(&indexed, &present, &mut report, cancel)?;
        let needed = self.check_trees(&index, &listing.snapshots, &mut report, cancel)?;
        if options.read_data != ReadData::None {
            self.read_packs(&indexed, &present, options.read_data, &mut report, progress, cancel)?;
        }
        self.attribute(&index, &listing.snapshots, &mut report);
        if listing.damaged.is_empty()
            && let Some(needed) = needed
        {
            mark_unused(&mut report, &needed);
        }
        Ok(report)
    }

    /// Pack files against the index: missing, wrong length, not indexed.
    fn check_pack_files(
        &self,
        indexed: &HashMap<PackId, IndexPack>,
        report: &mut CheckReport,
    ) -> Result<HashSet<PackId>> {
        let stored: HashMap<PackId, u64> = layout::list_with_len(self.storage(), FileKind::Pack)?
            .into_iter()
            .map(|(id, len)| (PackId(id), len))
            .collect();
        let mut present = HashSet::new();
        for (id, pack) in indexed {
            match stored.get(id) {
                None => report.add(
                    Problem::MissingPack,
                    ObjectKind::Pack,
                    id,
                    None,
                    "not in the repository".into(),
                ),
                Some(&len) if len != u64::from(pack.pack_len) => report.add(
                    Problem::PackLengthMismatch,
                    ObjectKind::Pack,
                    id,
                    None,
                    format!("{len} bytes, the index says {}", pack.pack_len),
                ),
                Some(_) => {
                    present.insert(*id);
                }
            }
        }
        for id in stored.keys().filter(|id| !indexed.contains_key(id)) {
            report.add(Problem::UnindexedPack, ObjectKind::Pack, id, None, "in no index file".into());
        }
        Ok(present)
    }

    /// Each present pack's own header against what the index says it holds.
    fn check_pack_headers(
        &self,
        indexed: &HashMap<PackId, IndexPack>,
        present: &HashSet<PackId>,
        report: &mut CheckReport,
        cancel: &CancelToken,
    ) -> Result<()> {
        let results: Vec<(PackId, Result<Vec<PackEntry>>)> = present
            .par_iter()
            .map(|id| {
                if cancel.is_cancelled() {
                    return (*id, Err(Error::Cancelled));
                }
                (*id, read_pack_header(self, id).map(|header| header.entries))
            })
            .collect();
        for (id, result) in results {
            match result {
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e @ Error::Storage(_)) => return Err(e),
                Err(e) => report.add(Problem::DamagedPackHeader, ObjectKind::Pack, id, None, e.to_string()),
                Ok(mut entries) => {
                    let mut expected = indexed.get(&id).map(|p| p.blobs.clone()).unwrap_or_default();
                    entries.sort_by_key(|e| e.offset);
                    expected.sort_by_key(|e| e.offset);
                    if entries != expected {
                        report.add(
                            Problem::PackHeaderMismatch,
                            ObjectKind::Pack,
                            id,
                            None,
                            format!("its header lists {} blobs, the index {}", entries.len(), expected.len()),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Every distinct tree of every snapshot is read and decoded, and every blob a tree
    /// references must be indexed. Returns the packs holding a blob some snapshot needs, or
    /// `None` when a tree could not be read (what is below it is then unknown).
    fn check_trees(
        &self,
        index: &Index,
        snapshots: &[crate::SnapshotInfo],
        report: &mut CheckReport,
        cancel: &CancelToken,
    ) -> Result<Option<HashSet<PackId>>> {
        let mut needed: HashSet<u32> = HashSet::new();
        let mut complete = true;
        let mut need = |blob_type: BlobType, id: &ObjectId| {
            if let Some(location) = index.get(blob_type, id) {
                needed.insert(location.pack);
            }
        };
        let mut seen: HashSet<TreeId> = HashSet::new();
        let mut level: Vec<TreeId> =
            snapshots.iter().map(|s| s.snapshot.tree).filter(|t| seen.insert(*t)).collect();
        let mut missing_data: HashSet<ObjectId> = HashSet::new();
        while !level.is_empty() {
            cancel.check()?;
            report.trees += level.len() as u64;
            let loaded: Vec<(TreeId, Result<cairn_format::tree::Tree>)> =
                level.par_iter().map(|id| (*id, load_tree(self, index, id))).collect();
            let mut next = Vec::new();
            for (id, tree) in loaded {
                need(BlobType::Tree, &id.0);
                let tree = match tree {
                    Ok(tree) => tree,
                    Err(e @ Error::Storage(_)) => return Err(e),
                    Err(e) => {
                        complete = false;
                        let problem = if index.contains(BlobType::Tree, &id.0) {
                            Problem::DamagedTree
                        } else {
                            Problem::MissingBlob
                        };
                        report.add(problem, ObjectKind::TreeBlob, id, None, e.to_string());
                        continue;
                    }
                };
                for node in tree.nodes {
                    match node.kind {
                        NodeKind::Dir { subtree } if seen.insert(subtree) => next.push(subtree),
                        NodeKind::File { chunks } | NodeKind::Database { chunks, .. } => {
                            for chunk in chunks {
                                need(BlobType::Data, &chunk.id.0);
                                if !index.contains(BlobType::Data, &chunk.id.0)
                                    && missing_data.insert(chunk.id.0)
                                {
                                    report.add(
                                        Problem::MissingBlob,
                                        ObjectKind::DataBlob,
                                        chunk.id,
                                        None,
                                        "in no index".into(),
                                    );
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            level = next;
        }
        Ok(complete.then(|| needed.into_iter().filter_map(|number| index.pack(number)).collect()))
    }

    /// Reads selected packs whole: the pack must hash to its name and every blob in it must
    /// open and match its id. A blob that fails is read once more on its own before it is
    /// reported, so a flipped bit in transit is not called damage.
    fn read_packs(
        &self,
        indexed: &HashMap<PackId, IndexPack>,
        present: &HashSet<PackId>,
        read_data: ReadData,
        report: &mut CheckReport,
        progress: &dyn Progress,
        cancel: &CancelToken,
    ) -> Result<()> {
        let selected: Vec<&IndexPack> =
            indexed.values().filter(|p| present.contains(&p.id) && read_data.selects(&p.id)).collect();
        let meter = Meter::new(Phase::Check);
        meter.add_total(selected.len() as u64, selected.iter().map(|p| u64::from(p.pack_len)).sum());
        meter.finish_totals();
        let results: Vec<Result<PackResult>> = with_ticker(&meter, progress, || {
            selected
                .par_iter()
                .map(|pack| {
                    cancel.check()?;
                    let result = self.read_pack(pack)?;
                    meter.add_done(1, u64::from(pack.pack_len));
                    Ok(result)
                })
                .collect()
        });
        for result in results {
            let result = result?;
            report.packs_read += 1;
            report.bytes_read += result.bytes;
            report.blobs_read += result.blobs;
            report.findings.extend(result.findings);
        }
        Ok(())
    }

    fn read_pack(&self, pack: &IndexPack) -> Result<PackResult> {
        let path = layout::file_path(FileKind::Pack, &pack.id.0);
        let bytes = self
            .storage()
            .read(&path, cairn_format::limits::MAX_PACK_LEN)
            .map_err(|e| pack_read_error(&pack.id, e))?;
        let mut result = PackResult { bytes: bytes.len() as u64, blobs: 0, findings: Vec::new() };
        let mut finding = |problem, object, id: String, detail: String| {
            result.findings.push(Finding {
                problem,
                object,
                id,
                pack: Some(pack.id),
                detail,
                affected: Vec::new(),
                unused: false,
            });
        };
        if crate::crypto::content_hash(&bytes) != pack.id.0 {
            finding(
                Problem::PackHashMismatch,
                ObjectKind::Pack,
                pack.id.to_string(),
                "its bytes do not hash to its name".into(),
            );
        }
        for blob in &pack.blobs {
            result.blobs += 1;
            let start = blob.offset as usize;
            let sealed = bytes.get(start..start + blob.sealed_len as usize).unwrap_or_default();
            if self.sealer().open_blob(blob.blob_type, &blob.id, sealed).is_ok() {
                continue;
            }
            // Once more from storage, on its own: only a repeated failure is damage.
            let again = self
                .storage()
                .read_range(&path, u64::from(blob.offset), u64::from(blob.sealed_len))
                .map_err(|e| pack_read_error(&pack.id, e))
                .and_then(|sealed| {
                    self.sealer()
                        .open_blob(blob.blob_type, &blob.id, &sealed)
                        .map_err(|damage| Error::corrupt(blob_object(blob.blob_type), blob.id, damage))
                });
            if let Err(e) = again {
                finding(
                    Problem::DamagedBlob,
                    blob_object(blob.blob_type),
                    blob.id.to_string(),
                    e.to_string(),
                );
            }
        }
        Ok(result)
    }

    /// Names, for each damaged or missing blob, the snapshots and paths that need it.
    fn attribute(&self, index: &Index, snapshots: &[crate::SnapshotInfo], report: &mut CheckReport) {
        let mut bad: HashMap<ObjectId, usize> = HashMap::new();
        for (i, finding) in report.findings.iter().enumerate() {
            if matches!(finding.object, ObjectKind::DataBlob | ObjectKind::TreeBlob)
                && let Some(id) = ObjectId::from_hex(&finding.id)
            {
                bad.entry(id).or_insert(i);
            }
        }
        // Blobs in a missing or damaged pack are lost too.
        let lost_packs: HashSet<String> = report
            .findings
            .iter()
            .filter(|f| {
                matches!(
                    f.problem,
                    Problem::MissingPack | Problem::DamagedPackHeader | Problem::PackLengthMismatch
                )
            })
            .map(|f| f.id.clone())
            .collect();
        if bad.is_empty() && lost_packs.is_empty() {
            return;
        }
        let in_lost_pack = |t: BlobType, id: &ObjectId| {
            index
                .get(t, id)
                .and_then(|l| index.pack(l.pack))
                .is_some_and(|p| lost_packs.contains(&p.to_string()))
        };
        let pack_finding: HashMap<String, usize> = report
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| lost_packs.contains(&f.id))
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        let mut affected: HashMap<usize, HashMap<SnapshotId, Vec<String>>> = HashMap::new();
        for snapshot in snapshots {
            let root = snapshot.snapshot.tree;
            if let Some(i) = finding_for(&bad, &pack_finding, index, BlobType::Tree, &root.0, &in_lost_pack) {
                affected.entry(i).or_default().entry(snapshot.id).or_default().push("/".into());
                continue;
            }
            let mut stack = vec![(root, Vec::<u8>::new(), 0usize)];
            while let Some((tree_id, prefix, depth)) = stack.pop() {
                let Ok(tree) = load_tree(self, index, &tree_id) else { continue };
                for node in tree.nodes {
                    let path = [prefix.as_slice(), b"/", &node.name].concat();
                    let hit = match &node.kind {
                        NodeKind::Dir { subtree } => {
                            if depth < cairn_format::limits::MAX_TREE_DEPTH {
                                stack.push((*subtree, path.clone(), depth + 1));
                            }
                            finding_for(&bad, &pack_finding, index, BlobType::Tree, &subtree.0, &in_lost_pack)
                        }
                        NodeKind::File { chunks } | NodeKind::Database { chunks, .. } => {
                            chunks.iter().find_map(|c| {
                                finding_for(
                                    &bad,
                                    &pack_finding,
                                    index,
                                    BlobType::Data,
                                    &c.id.0,
                                    &in_lost_pack,
                                )
                            })
                        }
                        NodeKind::Symlink { .. } => None,
                    };
                    if let Some(i) = hit {
                        affected
                            .entry(i)
                            .or_default()
                            .entry(snapshot.id)
                            .or_default()
                            .push(String::from_utf8_lossy(&path).into_owned());
                    }
                }
            }
        }
        for (i, by_snapshot) in affected {
            let mut list: Vec<Affected> =
                by_snapshot.into_iter().map(|(snapshot, paths)| Affected { snapshot, paths }).collect();
            list.sort_by_key(|a| a.snapshot);
            // Every finding about the same object (a tree can be both undecodable and, read in
            // full, damaged) names what it affects.
            let id = report.findings[i].id.clone();
            for finding in report.findings.iter_mut().filter(|f| f.id == id) {
                finding.affected.clone_from(&list);
            }
        }
    }
}

/// Marks damage no snapshot needs as unused: a damaged blob that affects no snapshot, and a
/// damaged or missing pack that holds no blob any snapshot needs. Only called when every
/// snapshot and every tree was read, so "needs" is known exactly.
///
/// A pack that does not hash to its name but whose header reads and whose damaged blobs are
/// all unused is unused damage too: every byte of a pack belongs to its file header, a blob,
/// its sealed header or its trailer (SPEC §7.1), so the altered bytes are in blobs nobody
/// needs (until `prune` rewrites the pack).
fn mark_unused(report: &mut CheckReport, needed_packs: &HashSet<PackId>) {
    let pack_needed = |finding: &Finding| {
        ObjectId::from_hex(&finding.id).is_none_or(|id| needed_packs.contains(&PackId(id)))
    };
    for finding in &mut report.findings {
        finding.unused = match finding.problem {
            Problem::DamagedBlob => finding.affected.is_empty(),
            Problem::MissingPack | Problem::DamagedPackHeader | Problem::PackLengthMismatch => {
                !pack_needed(finding)
            }
            _ => false,
        };
    }
    let needed_damage: HashSet<String> = report
        .findings
        .iter()
        .filter(|f| f.is_damage())
        .filter_map(|f| match f.problem {
            Problem::DamagedBlob => f.pack.map(|p| p.to_string()),
            Problem::DamagedPackHeader => Some(f.id.clone()),
            _ => None,
        })
        .collect();
    for finding in report.findings.iter_mut().filter(|f| f.problem == Problem::PackHashMismatch) {
        finding.unused = !pack_needed(finding) || !needed_damage.contains(&finding.id);
    }
}

/// The finding a blob falls under: its own, or its lost pack's.
fn finding_for(
    bad: &HashMap<ObjectId, usize>,
    pack_finding: &HashMap<String, usize>,
    index: &Index,
    blob_type: BlobType,
    id: &ObjectId,
    in_lost_pack: &dyn Fn(BlobType, &ObjectId) -> bool,
) -> Option<usize> {
    if let Some(&i) = bad.get(id) {
        return Some(i);
    }
    if in_lost_pack(blob_type, id) {
        let pack = index.get(blob_type, id).and_then(|l| index.pack(l.pack))?;
        return pack_finding.get(&pack.to_string()).copied();
    }
    None
}

/// What reading one pack found.
struct PackResult {
    bytes: u64,
    blobs: u64,
    findings: Vec<Finding>,
}

/// The first record of every pack in the readable, non-superseded index files.
fn indexed_packs(
    files: &[(cairn_format::id::IndexId, cairn_format::index::IndexFile)],
) -> HashMap<PackId, IndexPack> {
    let superseded: HashSet<_> = files.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
    let mut packs = HashMap::new();
    for (id, file) in files {
        if superseded.contains(id) {
            continue;
        }
        for pack in &file.packs {
            packs.entry(pack.id).or_insert_with(|| pack.clone());
        }
    }
    packs
}

fn blob_object(blob_type: BlobType) -> ObjectKind {
    match blob_type {
        BlobType::Data => ObjectKind::DataBlob,
        BlobType::Tree => ObjectKind::TreeBlob,
    }
}
