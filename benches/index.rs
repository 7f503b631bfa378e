//! The in-memory index with one million blobs: bytes of memory per blob (printed once, as a
//! figure for BENCHMARKS.md) and lookup speed for present and absent ids.

use std::hint::black_box;

use cairn::format::envelope::BlobType;
use cairn::format::id::{IndexId, ObjectId, PackId};
use cairn::format::index::{IndexFile, IndexPack};
use cairn::format::pack::PackEntry;
use cairn::index::Index;
use criterion::{Criterion, criterion_group, criterion_main};

const BLOBS: usize = 1_000_000;
/// Blobs per pack at the defaults: 8 MiB packs of about 1 MiB chunks.
const PER_PACK: usize = 8;

fn id(n: u64) -> ObjectId {
    ObjectId(*blake3::hash(&n.to_le_bytes()).as_bytes())
}

fn million_blob_index() -> Index {
    let packs = (0..BLOBS / PER_PACK)
        .map(|p| IndexPack {
            id: PackId(id(u64::MAX - p as u64)),
            pack_len: 8 << 20,
            blobs: (0..PER_PACK)
                .map(|i| PackEntry {
                    blob_type: BlobType::Data,
                    id: id((p * PER_PACK + i) as u64),
                    offset: 8 + u32::try_from(i).unwrap() * (1 << 20),
                    sealed_len: 1 << 20,
                    raw_len: 1 << 20,
                })
                .collect(),
        })
        .collect();
    Index::from_files(vec![(IndexId(ObjectId::ZERO), IndexFile { supersedes: vec![], packs })])
}

fn lookups(c: &mut Criterion) {
    let index = million_blob_index();
    println!(
        "index of {BLOBS} blobs holds {} bytes of heap: {:.1} bytes per blob",
        index.heap_bytes(),
        index.heap_bytes() as f64 / BLOBS as f64
    );
    let present: Vec<ObjectId> = (0..1000).map(|n| id(n * 997)).collect();
    let absent: Vec<ObjectId> = (0..1000).map(|n| id(u64::MAX / 2 + n)).collect();
    c.bench_function("index_lookup_present_x1000", |b| {
        b.iter(|| present.iter().filter(|id| index.contains(BlobType::Data, black_box(id))).count());
    });
    c.bench_function("index_lookup_absent_x1000", |b| {
        b.iter(|| absent.iter().filter(|id| index.contains(BlobType::Data, black_box(id))).count());
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
