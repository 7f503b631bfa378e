//! Throughput of each stage a byte goes through: chunking, keyed hashing, compression and
//! sealing, on incompressible (media) and compressible (database-like) input.

use std::hint::black_box;

use cairn::MasterKey;
use cairn::format::config::ChunkerParams;
use cairn::format::envelope::BlobType;
use cairn::format::id::ObjectId;
use cairn::internals::{chunker, sealer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LEN: usize = 64 << 20;

fn random(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Rows of a text-heavy table with some random columns: about 2:1 under zstd level 3.
fn database_like(len: usize) -> Vec<u8> {
    let noise = random(len / 4);
    let mut out = Vec::with_capacity(len + 256);
    let mut i = 0usize;
    while out.len() < len {
        out.extend_from_slice(format!("row {i:08} habit=drink water user={} note=", i % 977).as_bytes());
        out.extend_from_slice(&noise[(i * 24) % (noise.len() - 24)..][..24]);
        i += 1;
    }
    out.truncate(len);
    out
}

fn params() -> ChunkerParams {
    ChunkerParams { min_len: 256 << 10, avg_len: 1 << 20, max_len: 4 << 20 }
}

fn chunking(c: &mut Criterion) {
    let data = random(LEN);
    let chunker = chunker(&MasterKey::from_bytes([7; 32]), params());
    let mut group = c.benchmark_group("chunker");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    group.bench_function("keyed_fastcdc_1MiB_avg", |b| {
        b.iter(|| chunker.chunks(black_box(&data[..])).map(|c| c.map_or(0, |c| c.len())).sum::<usize>());
    });
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let data = random(LEN);
    let sealer = sealer(&MasterKey::from_bytes([7; 32]), ObjectId([1; 32]), 3);
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    group.bench_function("keyed_blake3_1MiB_chunks", |b| {
        b.iter(|| {
            data.chunks(1 << 20).map(|chunk| sealer.chunk_id(chunk).0.0[0]).fold(0u8, u8::wrapping_add)
        });
    });
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal");
    group.sample_size(10);
    for (name, data, level) in [
        ("media_zstd3", random(16 << 20), 3u8),
        ("database_zstd3", database_like(16 << 20), 3),
        ("database_zstd1", database_like(16 << 20), 1),
        ("media_uncompressed", random(16 << 20), 0),
    ] {
        let sealer = sealer(&MasterKey::from_bytes([7; 32]), ObjectId([1; 32]), level);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("seal_{name}"), |b| {
            b.iter(|| {
                data.chunks(1 << 20)
                    .map(|chunk| sealer.seal_blob(BlobType::Data, &ObjectId([2; 32]), chunk).unwrap().len())
                    .sum::<usize>()
            });
        });
        let sealed: Vec<(ObjectId, Vec<u8>)> = data
            .chunks(1 << 20)
            .map(|chunk| {
                let id = sealer.chunk_id(chunk).0;
                (id, sealer.seal_blob(BlobType::Data, &id, chunk).unwrap())
            })
            .collect();
        group.bench_function(format!("open_{name}"), |b| {
            b.iter(|| {
                sealed
                    .iter()
                    .map(|(id, blob)| sealer.open_blob(BlobType::Data, id, blob).unwrap().len())
                    .sum::<usize>()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, chunking, hashing, sealing);
criterion_main!(benches);
